// Reads every configured client file (size-capped, never throws) and maps it onto the inventory.
import type { ClientFileConfig, NodeConfig } from '../config/types.ts';
import { describeFileError, FILE_TIMEOUT_MS, fileErrorCode, readFileBounded } from '../files/bounded-file.ts';
import { clientRoutes, type ClientReport } from './client-routes.ts';
import { parseGitlabYml } from './gitlab-yml.ts';
import { parsePraefectConfig } from './praefect-config.ts';
import type { ClientFileResult } from './types.ts';

/** A gitlab.yml is a few tens of KiB; anything this large is the wrong file. */
export const MAX_CLIENT_FILE_BYTES = 4 * 1024 ** 2;

export interface ReadClientsDeps {
  readFile?: (path: string, maxBytes: number) => Promise<string>;
}

async function readCapped(path: string, maxBytes: number): Promise<string> {
  return (await readFileBounded(path, { timeoutMs: FILE_TIMEOUT_MS, maxBytes })).toString('utf8');
}

async function readOne(client: ClientFileConfig, deps: ReadClientsDeps): Promise<ClientFileResult> {
  let text: string;
  try {
    text = await (deps.readFile ?? readCapped)(client.path, MAX_CLIENT_FILE_BYTES);
  } catch (err) {
    return { ok: false, error: { code: fileErrorCode(err), message: `${client.path} ${describeFileError(err)}` } };
  }
  try {
    return client.kind === 'gitlab_yml' ? parseGitlabYml(text, client.path) : parsePraefectConfig(text, client.path);
  } catch {
    // The parsers report what they know; anything else is still this file's problem, not the exporter's.
    return { ok: false, error: { code: 'PARSE', message: `${client.path} could not be parsed` } };
  }
}

export async function readClientReport(
  clients: readonly ClientFileConfig[],
  nodes: readonly NodeConfig[],
  deps: ReadClientsDeps = {},
): Promise<ClientReport> {
  const files = await Promise.all(clients.map(async (client) => ({ client, result: await readOne(client, deps) })));
  return clientRoutes(files, nodes);
}
