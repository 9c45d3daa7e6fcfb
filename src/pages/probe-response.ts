// /probe's answer for each outcome of an on-demand probe: the metrics of a probe that ran (whatever
// it found: a failed handshake is a result, as in blackbox_exporter), or a status naming the refusal.
import { ContractRegistry } from '../metrics/definitions.ts';
import { setTlsMetrics } from '../metrics/render.ts';
import type { OnDemandResult } from '../probes/on-demand.ts';
import { tlsView } from '../view/node-view.ts';

const STATUS: Record<Exclude<OnDemandResult['kind'], 'probed'>, number> = {
  bad_target: 400,
  not_allowed: 403,
  busy: 429,
  ca_bundle: 500,
};

export async function probeResponse(outcome: OnDemandResult): Promise<{ status: number; body: string }> {
  if (outcome.kind !== 'probed') return { status: STATUS[outcome.kind], body: `${outcome.message}\n` };
  const registry = new ContractRegistry();
  setTlsMetrics(registry, outcome.node, tlsView(outcome.result));
  return { status: 200, body: await registry.text() };
}
