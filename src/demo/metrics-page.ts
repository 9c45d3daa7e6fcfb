// A Gitaly /metrics page as the real server writes it: families sorted by name (client_golang's
// order), connection counters created lazily, and the bulk that makes a real page ~1 MB: gRPC series
// that grpc_prometheus pre-creates for every registered method before any traffic.
// The bulk is built once per role and variant and kept as bytes (and as deflate blocks), so a page
// with new counts costs a few small strings, even for 1,000 nodes scraped every few seconds.
import { constants, crc32, deflateRawSync } from 'node:zlib';
import type { ConnectionCounts } from '../evidence/evidence.ts';
import type { Role } from '../config/types.ts';
import {
  family,
  grpcFamilies,
  grpcMethods,
  paddingFamily,
  runtimeFamilies,
  sample,
  staticGitalyFamilies,
  type FamilySpec,
  type MetricsPageValues,
} from './metrics-page-bulk.ts';

export type MetricsBulk = 'realistic' | 'small';
/** 'realistic' (~1 MB), 'small' (a few KB), or padded to about `targetBytes`. */
export type MetricsPageVariant = MetricsBulk | { targetBytes: number };

export type { MetricsPageValues };

const GIT_VERSION = '2.48.1.gl1';
const BUILT = '20250612.101502';

function connectionsFamily(role: Role): FamilySpec {
  const name = role === 'praefect' ? 'gitaly_praefect_connections_total' : 'gitaly_connections_total';
  return {
    name,
    // Series exist only once a connection of that type was accepted, as in Gitaly.
    render: ({ counts }) =>
      family(
        name,
        'counter',
        'Total number of connections accepted by this Gitaly process.',
        (['tcp', 'tls', 'unix'] as const).filter((t) => counts[t] > 0).map((t) => sample(name, { type: t }, counts[t])),
      ),
  };
}

const dynamicFamilies = (role: Role): FamilySpec[] => [
  connectionsFamily(role),
  {
    name: 'gitaly_authentications_total',
    // No real RPC traffic is simulated: a dozen authenticated calls per accepted channel keeps it plausible.
    render: ({ counts }) => {
      const total = (counts.tcp + counts.tls + counts.unix) * 12;
      return family(
        'gitaly_authentications_total',
        'counter',
        'Counts of Gitaly request authentication attempts.',
        total > 0 ? [sample('gitaly_authentications_total', { enforced: 'true', status: 'ok' }, total)] : [],
      );
    },
  },
  {
    name: 'gitlab_build_info',
    render: ({ version }) =>
      family('gitlab_build_info', 'gauge', 'Current build info for this GitLab Service.', [
        sample('gitlab_build_info', { built: BUILT, git_version: GIT_VERSION, version }, 1),
      ]),
  },
];

type Segment = { bytes: Buffer; deflated: Buffer } | { render: (values: MetricsPageValues) => string };

/** A page split into static byte chunks (built once) and small dynamic families rendered per request. */
export class MetricsPageTemplate {
  readonly staticBytes: number;
  constructor(private readonly segments: Segment[]) {
    this.staticBytes = segments.reduce((n, s) => n + ('bytes' in s ? s.bytes.length : 0), 0);
  }

  render(values: MetricsPageValues): Buffer[] {
    return this.segments.map((s) => ('bytes' in s ? s.bytes : Buffer.from(s.render(values))));
  }

  /**
   * One gzip member made of independently deflated blocks, each ending on a sync flush: the static
   * ones are compressed once, only the few dynamic bytes per request. (Several gzip members would be
   * simpler, but curl reads only the first.)
   */
  renderGzip(values: MetricsPageValues): Buffer[] {
    let crc = 0;
    let length = 0;
    const blocks = this.segments.map((s) => {
      const bytes = 'bytes' in s ? s.bytes : Buffer.from(s.render(values));
      crc = crc32(bytes, crc);
      length += bytes.length;
      return 'bytes' in s ? s.deflated : deflateRaw(bytes);
    });
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(length % 2 ** 32, 4);
    // 1f 8b = gzip, 08 = deflate, no flags or mtime, 03 = Unix; 03 00 = an empty final deflate block.
    return [Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]), ...blocks, Buffer.from([0x03, 0x00]), trailer];
  }
}

function deflateRaw(bytes: Buffer): Buffer {
  return deflateRawSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH });
}

function buildTemplate(role: Role, variant: MetricsPageVariant): MetricsPageTemplate {
  const small = variant === 'small';
  const methods = small ? grpcMethods(role).filter((m) => m.grpc_service === 'grpc.health.v1.Health') : grpcMethods(role);
  const specs = [
    ...dynamicFamilies(role),
    ...runtimeFamilies(small),
    ...grpcFamilies(methods),
    ...(small ? [] : staticGitalyFamilies(role, methods)),
  ];
  if (typeof variant === 'object') {
    const base = buildTemplate(role, 'realistic').staticBytes;
    if (variant.targetBytes > base) specs.push(paddingFamily(variant.targetBytes - base));
  }
  specs.sort((a, b) => (a.name < b.name ? -1 : 1));
  const segments: Segment[] = [];
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const bytes = Buffer.from(pending);
    segments.push({ bytes, deflated: deflateRaw(bytes) });
    pending = '';
  };
  for (const spec of specs) {
    if (typeof spec.render === 'string') pending += spec.render;
    else {
      flush();
      segments.push({ render: spec.render });
    }
  }
  flush();
  return new MetricsPageTemplate(segments);
}

const templates = new Map<string, MetricsPageTemplate>();

/** The cached template for a role and variant (built on first use). */
export function metricsPageTemplate(role: Role, variant: MetricsPageVariant = 'realistic'): MetricsPageTemplate {
  const key = `${role}:${typeof variant === 'object' ? variant.targetBytes : variant}`;
  let template = templates.get(key);
  if (!template) {
    template = buildTemplate(role, variant);
    templates.set(key, template);
  }
  return template;
}

export function renderGitalyMetricsPage(opts: { role: Role; counts: ConnectionCounts; version: string; bulk?: MetricsBulk }): string {
  return Buffer.concat(metricsPageTemplate(opts.role, opts.bulk ?? 'realistic').render(opts)).toString();
}

/** A valid page of about `targetBytes` (never smaller than the realistic page), for the benchmark. */
export function renderLargeMetricsPage(targetBytes: number, counts: ConnectionCounts, role: Role, version = '17.11.2'): string {
  return Buffer.concat(metricsPageTemplate(role, { targetBytes }).render({ counts, version })).toString();
}
