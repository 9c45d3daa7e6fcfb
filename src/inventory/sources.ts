// The inventory's sources as the configuration names them, in priority order: the static list
// first (its settings win), then the discovery sources.
import type { Dispatcher } from 'undici';
import type { Config } from '../config/types.ts';
import { fileSdSource } from './file-sd.ts';
import { tomlSource } from './gitaly-toml.ts';
import { prometheusTargetsSource } from './prometheus-targets.ts';
import type { InventorySource } from './types.ts';

export interface SourceDeps {
  dispatcher?: Dispatcher;
}

export const STATIC_SOURCE_ID = 'static nodes list';

export function buildSources(config: Config, deps: SourceDeps = {}): InventorySource[] {
  const sources: InventorySource[] = [];
  if (config.nodes.length > 0) {
    const nodes = config.nodes;
    sources.push({ id: STATIC_SOURCE_ID, kind: 'static', discover: () => Promise.resolve({ ok: true, nodes }) });
  }
  const d = config.discovery;
  if (!d) return sources;
  const limits = { timeoutMs: d.fileTimeoutMs, maxBytes: d.maxFileBytes };
  for (const toml of d.toml) sources.push(tomlSource(toml, limits));
  for (const sd of d.fileSd) sources.push(fileSdSource(sd, config.prometheus?.instanceLabel ?? 'instance', limits));
  if (d.prometheus && config.prometheus) {
    const limitsPrometheus = { timeoutMs: config.timeouts.prometheusMs, maxBytes: config.maxPrometheusResponseBytes };
    sources.push(prometheusTargetsSource(config.prometheus, d.prometheus, limitsPrometheus, { dispatcher: deps.dispatcher }));
  }
  return sources;
}
