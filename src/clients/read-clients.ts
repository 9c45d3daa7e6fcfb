// Reads every configured client file (size-capped, never throws) and maps it onto the inventory.
import type { ClientFileConfig, NodeConfig } from '../config/types.ts';
import { describeFileError, FILE_TIMEOUT_MS, fileErrorCode, readFileBounded } from '../files/bounded-file.ts';
import { clientRoutes, type ClientReport } from './client-routes.ts';
import { parseGitlabYml } from './gitlab-yml.ts';
import { ParseCache } from './parse-cache.ts';
import { parsePraefectConfig } from './praefect-config.ts';
import type { ClientFileResult } from './types.ts';

/** A gitlab.yml is a few tens of KiB; anything this large is the wrong file. */
export const MAX_CLIENT_FILE_BYTES = 4 * 1024 ** 2;

export interface ReadClientsDeps {
  readFile?: (path: string, maxBytes: number) => Promise<string>;
  /** Parses one file's text (tests count the calls). */
  parse?: (client: ClientFileConfig, text: string) => ClientFileResult;
  /** Parses kept between calls: by default one for the process (none shared when `parse` is given). */
  cache?: ParseCache<ClientFileResult>;
}

const processCache = new ParseCache<ClientFileResult>();

function parseClientFile(client: ClientFileConfig, text: string): ClientFileResult {
  try {
    return client.kind === 'gitlab_yml' ? parseGitlabYml(text, client.path) : parsePraefectConfig(text, client.path);
  } catch {
    // The parsers report what they know; anything else is still this file's problem, not the exporter's.
    return { ok: false, error: { code: 'PARSE', message: `${client.path} could not be parsed` } };
  }
}

const cacheKey = (client: ClientFileConfig): string => `${client.kind}\0${client.path}`;

async function readCapped(path: string, maxBytes: number): Promise<string> {
  return (await readFileBounded(path, { timeoutMs: FILE_TIMEOUT_MS, maxBytes })).toString('utf8');
}

async function readOne(client: ClientFileConfig, deps: ReadClientsDeps, cache: ParseCache<ClientFileResult>): Promise<ClientFileResult> {
  let text: string;
  try {
    text = await (deps.readFile ?? readCapped)(client.path, MAX_CLIENT_FILE_BYTES);
  } catch (err) {
    return { ok: false, error: { code: fileErrorCode(err), message: `${client.path} ${describeFileError(err)}` } };
  }
  // Unchanged text is not parsed again: the parse result depends on nothing else.
  return cache.get(cacheKey(client), text, () => (deps.parse ?? parseClientFile)(client, text));
}

export async function readClientReport(
  clients: readonly ClientFileConfig[],
  nodes: readonly NodeConfig[],
  deps: ReadClientsDeps = {},
): Promise<ClientReport> {
  const cache = deps.cache ?? (deps.parse ? new ParseCache<ClientFileResult>() : processCache);
  const files = await Promise.all(clients.map(async (client) => ({ client, result: await readOne(client, deps, cache) })));
  cache.keepOnly(new Set(clients.map(cacheKey)));
  return clientRoutes(files, nodes);
}
