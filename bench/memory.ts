// Section 5: the exporter process's peak RSS (VmHWM, kept by the kernel, so no peak is missed
// between samples) after the warm-up cycle, the measured cycle and the load test at full scale.
import type { ScaleRun } from './cycle.ts';
import { met, notMeasured, type Row } from './report.ts';
import { fmt } from './stats.ts';

const TARGET_BYTES = 200 * 1024 * 1024;
const MiB = (bytes: number): string => `${fmt(bytes / 1024 / 1024)} MiB`;

interface HeapAtEnd extends NodeJS.MemoryUsage {
  afterGc?: NodeJS.MemoryUsage | null;
  atPeak?: (NodeJS.MemoryUsage & { stage: string }) | null;
  smaps?: Record<string, number>;
}

/** Where the memory is at the end of the run: the V8 heap, buffers outside it, and the kernel's split. */
export function whereMemoryGoes(heap: unknown): string {
  const h = heap as HeapAtEnd | null;
  if (!h || typeof h.rss !== 'number') return '';
  const p = h.atPeak;
  const parts = [
    ...(p
      ? [
          `highest RSS sample (every 20 ms) ${MiB(p.rss)} during the ${p.stage}: V8 heap ${MiB(p.heapUsed)} used of ${MiB(p.heapTotal)}, outside the heap ${MiB(p.rss - p.heapTotal)} (external ${MiB(p.external)}, Buffers ${MiB(p.arrayBuffers)})`,
        ]
      : []),
    `at the end: RSS ${MiB(h.rss)}`,
    `V8 heap ${MiB(h.heapUsed)} used of ${MiB(h.heapTotal)}`,
    `outside the heap ${MiB(h.rss - h.heapTotal)} (of which external ${MiB(h.external)}, Buffers ${MiB(h.arrayBuffers)})`,
  ];
  if (h.smaps?.Anonymous !== undefined) parts.push(`anonymous ${MiB(h.smaps.Anonymous)}, file-backed ${MiB(h.rss - h.smaps.Anonymous)}`);
  if (h.afterGc)
    parts.push(`after a full GC: RSS ${MiB(h.afterGc.rss)}, heap ${MiB(h.afterGc.heapUsed)} used of ${MiB(h.afterGc.heapTotal)}`);
  return parts.join('; ');
}

function memoryRow(run: ScaleRun, what: string, target: string, ok: boolean | null, note: string): Row {
  const { idleRss, peakRss } = run.memory;
  return {
    section: '5',
    what,
    ours: MiB(peakRss ?? NaN),
    baseline: idleRss === null ? '—' : `${MiB(idleRss)} (same process before its first cycle)`,
    target,
    met: ok === null ? 'info' : met(ok),
    note: [note, whereMemoryGoes(run.heap)].filter(Boolean).join('. '),
    data: { ...run.memory, heapAtEnd: run.heap },
  };
}

export function memoryRows(runs: ScaleRun[], scale: number, skipped: string | null): Row[] {
  const what = `Peak RSS of the exporter process, ${scale} nodes`;
  const target = '< 200 MiB';
  const rows: Row[] = [];
  const plain = runs.find((r) => r.scale === scale && !r.certificateFiles);
  const peak = plain?.memory.peakRss;
  if (!plain || peak === null || peak === undefined)
    rows.push(notMeasured('5', what, target, skipped ?? 'the run broke or VmHWM could not be read'));
  else
    rows.push(
      memoryRow(
        plain,
        what,
        target,
        peak < TARGET_BYTES,
        'VmHWM of the exporter child (compiled, plain node, as in production) after a warm-up cycle, the measured cycle and the /metrics load test',
      ),
    );
  const withFiles = runs.find((r) => r.scale === scale && r.certificateFiles);
  if (withFiles?.memory.peakRss) {
    rows.push(
      memoryRow(
        withFiles,
        `${what}, certificate_file on every node`,
        '— (information)',
        null,
        'VmHWM after a warm-up and a measured cycle (no load test)',
      ),
    );
  }
  return rows;
}
