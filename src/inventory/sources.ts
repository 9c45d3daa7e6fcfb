// The inventory's sources as the configuration names them, in priority order: the static list
// first (its settings win), then the discovery sources.
import type { Dispatcher } from 'undici';
import type { Config } from '../config/types.ts';
import type { InventorySource } from './types.ts';

export interface SourceDeps {
  dispatcher?: Dispatcher;
}

export const STATIC_SOURCE_ID = 'static nodes list';

export function buildSources(config: Config, _deps: SourceDeps = {}): InventorySource[] {
  const sources: InventorySource[] = [];
  if (config.nodes.length > 0) {
    const nodes = config.nodes;
    sources.push({ id: STATIC_SOURCE_ID, kind: 'static', discover: () => Promise.resolve({ ok: true, nodes }) });
  }
  return sources;
}
