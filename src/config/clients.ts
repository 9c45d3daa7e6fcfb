// Reads the clients: list: Gitaly clients' configuration files (GitLab Rails gitlab.yml, Praefect
// config.toml), each under a name the admin recognises. The files are read at each collection.
import { readPath, type Context } from './paths.ts';
import { KEYS, text } from './schema.ts';
import type { ClientFileConfig } from './types.ts';
import type { MapView } from './yaml-reader.ts';

const KINDS = ['gitlab_yml', 'praefect_config'] as const;

/** Undefined when absent; null when invalid (reported). */
export function readClients(root: MapView, ctx: Context): ClientFileConfig[] | undefined | null {
  const items = root.list('clients', 'each starting with "- name:" and one of gitlab_yml: or praefect_config:');
  if (!items) return items;
  const problemsBefore = ctx.reader.problems.length;
  const clients: ClientFileConfig[] = [];
  const names = new Map<string, string>();
  for (const item of items) {
    const view = item.node && ctx.reader.mapping(item.field, item.node, KEYS.client, 'name:, gitlab_yml: or praefect_config:');
    if (!view) continue;
    const name = view.required('name', text);
    if (name !== null && name !== undefined) {
      const first = names.get(name);
      if (first) ctx.reader.report(view.fieldOf('name'), view.at('name'), `"${name}" is already the name of ${first}`);
      else names.set(name, item.field);
    }
    const given = KINDS.filter((kind) => view.has(kind));
    if (given.length !== 1) {
      const message =
        given.length === 0
          ? 'needs one of gitlab_yml (GitLab Rails config/gitlab.yml) or praefect_config (Praefect config.toml)'
          : 'give either gitlab_yml or praefect_config, not both: list each file as its own client';
      ctx.reader.report(
        given.length === 0 ? view.field : view.fieldOf(given[1]!),
        given.length === 0 ? view.node : view.at(given[1]!),
        message,
      );
      continue;
    }
    const kind = given[0]!;
    const path = readPath(view, kind, 'file', ctx, { required: true });
    if (name && path) clients.push({ name, kind, path });
  }
  return ctx.reader.problems.length === problemsBefore ? clients : null;
}
