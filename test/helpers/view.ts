// A collection view built from evidence, the way the collector builds it, for page tests.
import type { NodeConfig } from '../../src/config/types.ts';
import { judgeFleet, judgeNode, type NodeEvidence } from '../../src/migration/verdict.ts';
import { collectionView, type CollectionView } from '../../src/view/collection-view.ts';
import { completeEvidence, NOW, OPTIONS, WINDOW } from './evidence.ts';

export interface NodeSpec {
  name: string;
  node?: Partial<NodeConfig>;
  evidence?: Partial<NodeEvidence>;
}

export function viewOfNodes(specs: NodeSpec[], opts: { expiryWarningMs?: number } = {}): CollectionView {
  const options = { ...OPTIONS, ...(opts.expiryWarningMs !== undefined ? { expiryWarningMs: opts.expiryWarningMs } : {}) };
  const nodes = specs.map((spec) => {
    const node: NodeConfig = {
      name: spec.name,
      role: 'gitaly',
      metricsUrl: `http://${spec.name}.internal:9236/metrics`,
      tlsAddress: 'gitaly-1.internal:9999',
      plaintextAddress: 'gitaly-1.internal:8075',
      ...spec.node,
    };
    const e = completeEvidence({
      name: spec.name,
      role: node.role,
      tlsAddress: node.tlsAddress ?? null,
      plaintextAddress: node.plaintextAddress ?? null,
      certificateFile: node.certificateFile ?? null,
      ...spec.evidence,
    });
    const verdict = judgeNode(e, options);
    return { node, verdict, history: e.history, instance: `${spec.name}.internal:9236` };
  });
  return collectionView({
    atMs: NOW,
    durationMs: 10,
    nodes,
    fleet: judgeFleet(
      nodes.map((n) => n.verdict),
      [],
      null,
    ),
    prometheus: null,
    caBundle: { ok: true, source: 'test', count: 1 },
    stateError: null,
    sourceErrors: new Map(),
    clients: null,
    soakWindowMs: WINDOW,
    expiryWarningMs: options.expiryWarningMs,
    bucketMs: options.bucketMs,
  });
}
