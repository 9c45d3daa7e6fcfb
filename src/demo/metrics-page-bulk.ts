// The static bulk of a demo /metrics page (gRPC method table, families rendered once per role) and its text-format helpers.
import type { Role } from '../config/types.ts';
import type { ConnectionCounts } from '../evidence/evidence.ts';

/** The values a simulated page shows at one moment. */
export interface MetricsPageValues {
  counts: ConnectionCounts;
  version: string;
  /** process_start_time_seconds; a fixed past time when absent. */
  processStartSeconds?: number;
}

// Suffix: u = unary, s = server_stream, c = client_stream, b = bidi_stream.
const GITALY_SERVICES: Record<string, string> = {
  'gitaly.AnalysisService': 'CheckBlobsGenerated:b',
  'gitaly.BlobService': 'GetBlob:s GetBlobs:s GetLFSPointers:s ListBlobs:s ListLFSPointers:s ListAllLFSPointers:s ListAllBlobs:s',
  'gitaly.CleanupService': 'ApplyBfgObjectMapStream:b RewriteHistory:c',
  'gitaly.CommitService':
    'ListCommits:s ListAllCommits:s CommitIsAncestor:u TreeEntry:s CountCommits:u CountDivergingCommits:u GetTreeEntries:s ' +
    'ListFiles:s FindCommit:u CommitStats:u FindAllCommits:s FindCommits:s CommitLanguages:u RawBlame:s LastCommitForPath:u ' +
    'ListLastCommitsForTree:s CommitsByMessage:s ListCommitsByOid:s ListCommitsByRefName:s FilterShasWithSignatures:b ' +
    'GetCommitSignatures:s GetCommitMessages:s CheckObjectsExist:b',
  'gitaly.ConflictsService': 'ListConflictFiles:s ResolveConflicts:c',
  'gitaly.DiffService':
    'CommitDiff:s CommitDelta:s RawDiff:s RawPatch:s DiffStats:s FindChangedPaths:s GetPatchID:u RawRangeDiff:s RangeDiff:s DiffBlobs:s',
  'gitaly.HookService':
    'PreReceiveHook:b PostReceiveHook:b UpdateHook:s ReferenceTransactionHook:b PackObjectsHookWithSidechannel:u ProcReceiveHook:b',
  'gitaly.InternalGitaly': 'WalkRepos:s BackupPartition:u ListPartitions:u',
  'gitaly.ObjectPoolService':
    'CreateObjectPool:u DeleteObjectPool:u LinkRepositoryToObjectPool:u DisconnectGitAlternates:u FetchIntoObjectPool:u GetObjectPool:u',
  'gitaly.OperationService':
    'UserCreateBranch:u UserUpdateBranch:u UserDeleteBranch:u UserCreateTag:u UserDeleteTag:u UserMergeToRef:u UserRebaseToRef:u ' +
    'UserMergeBranch:b UserFFBranch:u UserCherryPick:u UserCommitFiles:c UserRevert:u UserSquash:u UserApplyPatch:c ' +
    'UserUpdateSubmodule:u UserRebaseConfirmable:b',
  'gitaly.RefService':
    'FindDefaultBranchName:u FindLocalBranches:s FindAllBranches:s FindAllTags:s FindTag:u FindAllRemoteBranches:s RefExists:u ' +
    'FindBranch:u UpdateReferences:c DeleteRefs:u ListBranchNamesContainingCommit:s ListTagNamesContainingCommit:s ' +
    'GetTagSignatures:s GetTagMessages:s ListRefs:s FindRefsByOID:u',
  'gitaly.RemoteService': 'UpdateRemoteMirror:c FindRemoteRepository:u FindRemoteRootRef:u',
  'gitaly.RepositoryService':
    'RepositoryExists:u RepositorySize:u RepositoryInfo:u ObjectsSize:b ObjectFormat:u FetchRemote:u CreateRepository:u ' +
    'GetArchive:s HasLocalBranches:u FetchSourceBranch:u Fsck:u WriteRef:u FindMergeBase:u CreateFork:u ' +
    'CreateRepositoryFromURL:u CreateBundle:s CreateBundleFromRefList:b FetchBundle:c CreateRepositoryFromBundle:c GetConfig:s ' +
    'FindLicense:u GetInfoAttributes:s CalculateChecksum:u GetSnapshot:s CreateRepositoryFromSnapshot:u GetRawChanges:s ' +
    'SearchFilesByContent:s SearchFilesByName:s RestoreCustomHooks:c SetCustomHooks:c BackupCustomHooks:s GetCustomHooks:s ' +
    'GetObjectDirectorySize:u RemoveRepository:u ReplicateRepository:u OptimizeRepository:u PruneUnreachableObjects:u ' +
    'SetFullPath:u FullPath:u RemoveAll:u BackupRepository:u RestoreRepository:u GetFileAttributes:u FastExport:s ' +
    'MigrateReferenceBackend:u GenerateBundleURI:u',
  'gitaly.ServerService': 'ServerInfo:u DiskStatistics:u ReadinessCheck:u ServerSignature:u ClockSynchronized:u',
  'gitaly.SmartHTTPService': 'InfoRefsUploadPack:s InfoRefsReceivePack:s PostUploadPackWithSidechannel:u PostReceivePack:b',
  'gitaly.SSHService': 'SSHUploadPackWithSidechannel:u SSHReceivePack:b SSHUploadArchive:b',
  'gitaly.WikiService': 'WikiWritePage:c WikiUpdatePage:c WikiFindPage:s WikiGetAllPages:s WikiListPages:s',
  'gitaly.RefTransaction': 'VoteTransaction:u StopTransaction:u',
  'grpc.health.v1.Health': 'Check:u Watch:s',
  'grpc.reflection.v1alpha.ServerReflection': 'ServerReflectionInfo:b',
};
const PRAEFECT_ONLY_SERVICES: Record<string, string> = {
  'gitaly.PraefectInfoService':
    'RepositoryReplicas:u DatalossCheck:u SetAuthoritativeStorage:u SetReplicationFactor:u GetRepositoryMetadata:u',
};
const GRPC_TYPES: Record<string, string> = { u: 'unary', s: 'server_stream', c: 'client_stream', b: 'bidi_stream' };
const GRPC_CODES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];
// The Linux package's default [prometheus] grpc_latency_buckets.
const LATENCY_BUCKETS = ['0.001', '0.005', '0.025', '0.1', '0.5', '1', '10', '30', '60', '300', '1500', '+Inf'];

export interface Method {
  grpc_method: string;
  grpc_service: string;
  grpc_type: string;
}

export function grpcMethods(role: Role): Method[] {
  const table = role === 'praefect' ? { ...GITALY_SERVICES, ...PRAEFECT_ONLY_SERVICES } : GITALY_SERVICES;
  return Object.entries(table).flatMap(([service, list]) =>
    list.split(' ').map((entry) => {
      const [method = '', kind = 'u'] = entry.split(':');
      return { grpc_method: method, grpc_service: service, grpc_type: GRPC_TYPES[kind] ?? 'unary' };
    }),
  );
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** One sample line; label names sorted as client_golang writes them, `le` / `quantile` last. */
export function sample(name: string, labels: Record<string, string | number>, value: number | string): string {
  const keys = Object.keys(labels).sort((a, b) =>
    a === 'le' || a === 'quantile' ? 1 : b === 'le' || b === 'quantile' ? -1 : a.localeCompare(b),
  );
  const body = keys.map((k) => `${k}="${escapeLabelValue(String(labels[k]))}"`).join(',');
  return `${name}${body ? `{${body}}` : ''} ${value}\n`;
}

export function family(name: string, type: string, help: string, lines: string[]): string {
  return lines.length === 0 ? '' : `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${lines.join('')}`;
}

/** Stable pseudo-random integer in [0, max) so the page looks lived-in yet is identical every time. */
function stable(key: string, max: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return hash % max;
}

export interface FamilySpec {
  name: string;
  render: string | ((values: MetricsPageValues) => string);
}

export function runtimeFamilies(small: boolean): FamilySpec[] {
  const gauges: Array<[string, string, number]> = [
    ['go_goroutines', 'Number of goroutines that currently exist.', 412],
    ['go_threads', 'Number of OS threads created.', 23],
    ['process_max_fds', 'Maximum number of open file descriptors.', 1048576],
    ['process_open_fds', 'Number of open file descriptors.', 87],
    ['process_resident_memory_bytes', 'Resident memory size in bytes.', 162738176],
    ['process_virtual_memory_bytes', 'Virtual memory size in bytes.', 2914877440],
  ];
  if (!small) {
    for (const stat of [
      'alloc_bytes',
      'heap_alloc_bytes',
      'heap_idle_bytes',
      'heap_inuse_bytes',
      'heap_objects',
      'heap_released_bytes',
      'heap_sys_bytes',
      'mcache_inuse_bytes',
      'mcache_sys_bytes',
      'mspan_inuse_bytes',
      'mspan_sys_bytes',
      'next_gc_bytes',
      'other_sys_bytes',
      'stack_inuse_bytes',
      'stack_sys_bytes',
      'sys_bytes',
      'buck_hash_sys_bytes',
      'gc_sys_bytes',
    ]) {
      gauges.push([
        `go_memstats_${stat}`,
        `Number of ${stat.replace(/_/g, ' ')} in use by the Go runtime.`,
        1000 + stable(stat, 90_000_000),
      ]);
    }
  }
  const specs: FamilySpec[] = gauges.map(([name, help, value]) => ({
    name,
    render: family(name, 'gauge', help, [sample(name, {}, value)]),
  }));
  specs.push(
    {
      name: 'process_start_time_seconds',
      // The simulated process's own start time, as Gitaly's: a restart changes it.
      render: ({ processStartSeconds }) =>
        family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', [
          sample('process_start_time_seconds', {}, processStartSeconds ?? 1749723302.41),
        ]),
    },
    {
      name: 'go_info',
      render: family('go_info', 'gauge', 'Information about the Go environment.', [sample('go_info', { version: 'go1.23.10' }, 1)]),
    },
    {
      name: 'process_cpu_seconds_total',
      render: family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [
        sample('process_cpu_seconds_total', {}, 8412.37),
      ]),
    },
  );
  if (!small) {
    const q = ['0', '0.25', '0.5', '0.75', '1'].map((quantile, i) => sample('go_gc_duration_seconds', { quantile }, (i + 1) * 0.00004));
    specs.push({
      name: 'go_gc_duration_seconds',
      render: family('go_gc_duration_seconds', 'summary', 'A summary of the pause duration of garbage collection cycles.', [
        ...q,
        sample('go_gc_duration_seconds_sum', {}, 3.91),
        sample('go_gc_duration_seconds_count', {}, 48211),
      ]),
    });
  }
  return specs;
}

function histogramLines(name: string, labels: Record<string, string>, total: number, meanSeconds: number): string[] {
  const buckets = LATENCY_BUCKETS.map((le, i) =>
    sample(`${name}_bucket`, { ...labels, le }, Math.round((total * (i + 1)) / LATENCY_BUCKETS.length)),
  );
  return [...buckets, sample(`${name}_sum`, labels, total * meanSeconds), sample(`${name}_count`, labels, total)];
}

function started(m: Method): number {
  return stable(m.grpc_method, 3) === 0 ? 0 : stable(`${m.grpc_method}s`, 500_000);
}

export function grpcFamilies(methods: Method[]): FamilySpec[] {
  const counter = (name: string, help: string, value: (m: Method) => number): FamilySpec => ({
    name,
    render: family(
      name,
      'counter',
      help,
      methods.map((m) => sample(name, { ...m }, value(m))),
    ),
  });
  const handled = methods.flatMap((m) =>
    GRPC_CODES.map((code) => {
      const value = code === 'OK' ? started(m) : stable(`${m.grpc_method}${code}`, 40) === 0 ? stable(code, 90) : 0;
      return sample('grpc_server_handled_total', { ...m, grpc_code: code }, value);
    }),
  );
  // grpc_prometheus records latency for every method; bidirectional streams live as long as a push, so leave them out.
  const histogram = methods
    .filter((m) => m.grpc_type !== 'bidi_stream')
    .flatMap((m) => histogramLines('grpc_server_handling_seconds', { ...m }, started(m), 0.031));
  return [
    {
      name: 'grpc_server_handled_total',
      render: family(
        'grpc_server_handled_total',
        'counter',
        'Total number of RPCs completed on the server, regardless of success or failure.',
        handled,
      ),
    },
    {
      name: 'grpc_server_handling_seconds',
      render: family(
        'grpc_server_handling_seconds',
        'histogram',
        'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
        histogram,
      ),
    },
    counter('grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.', started),
    counter('grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.', (m) => started(m) * 3),
    counter('grpc_server_started_total', 'Total number of RPCs started on the server.', started),
  ];
}

export function staticGitalyFamilies(role: Role, methods: Method[]): FamilySpec[] {
  const gauge = (name: string, help: string): FamilySpec => ({
    name,
    render: family(
      name,
      'gauge',
      help,
      methods.map((m) => sample(name, { ...m, system: 'gitaly' }, 0)),
    ),
  });
  // Gitaly's per-RPC concurrency limiter: only some methods are limited (every other one here).
  const acquiring = methods
    .filter((_, i) => i % 2 === 0)
    .flatMap((m) => histogramLines('gitaly_concurrency_limiting_acquiring_seconds', { ...m, system: 'gitaly' }, started(m), 0.002));
  const specs: FamilySpec[] = [
    gauge('gitaly_concurrency_limiting_in_progress', 'Gauge of number of concurrent in-progress calls.'),
    gauge('gitaly_concurrency_limiting_queued', 'Gauge of number of queued calls.'),
    {
      name: 'gitaly_concurrency_limiting_acquiring_seconds',
      render: family(
        'gitaly_concurrency_limiting_acquiring_seconds',
        'histogram',
        'Histogram of time calls are rate limited (in seconds).',
        acquiring,
      ),
    },
  ];
  if (role === 'praefect') {
    specs.push({
      name: 'gitaly_praefect_node_last_healthcheck_up',
      render: family(
        'gitaly_praefect_node_last_healthcheck_up',
        'gauge',
        'Whether the last health check of a Gitaly node succeeded.',
        ['gitaly-1', 'gitaly-2', 'gitaly-3'].map((storage) =>
          sample('gitaly_praefect_node_last_healthcheck_up', { gitaly_storage: storage }, 1),
        ),
      ),
    });
  }
  return specs;
}

export function paddingFamily(bytes: number): FamilySpec {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i += 1) {
    const line = sample(
      'gitaly_demo_padding',
      { grpc_method: `PaddingMethod${i}`, grpc_service: 'gitaly.DemoPaddingService', grpc_type: 'unary' },
      0,
    );
    lines.push(line);
    size += line.length;
  }
  return {
    name: 'gitaly_demo_padding',
    render: family('gitaly_demo_padding', 'gauge', 'Padding series that bring the page to the size a benchmark asked for.', lines),
  };
}
