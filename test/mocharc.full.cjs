// `npm test` (and CI): every test file, in parallel worker processes. Most of the suite's time is
// a few integration and fault files that wait on the real Prometheus and on soak windows, not on
// the CPU; run one after another they took 13 minutes here. They start first, so the longest
// file (about 4 minutes) sets the length of the run rather than the end of a queue.
//
// TEST_JOBS sets the number of workers (default 4, on 2 cores: the slow files mostly wait).
// Each worker runs the root hooks (test/helpers/root-hooks.ts) after each of its files, so a
// process a file leaves behind fails that file. Output is buffered per file by mocha.
const { readdirSync } = require('node:fs');
const base = require('../.mocharc.cjs');

const SLOW_FIRST = [
  'test/integration/convergence.slow.test.ts',
  'test/faults/fleet-faults.slow.test.ts',
  'test/integration/window-counters.slow.test.ts',
  'test/integration/fleet.slow.test.ts',
  'test/integration/hung-target.slow.test.ts',
  'test/faults/state-file.slow.test.ts',
  'test/faults/own-dials.slow.test.ts',
  'test/inventory/prometheus-discovery.slow.test.ts',
  'test/cli.slow.test.ts',
  'test/faults/connection-flood.slow.test.ts',
  'test/packaging/deb.slow.test.ts', // builds the executable, then xz-compresses 130 MB: minutes under load
];

const all = readdirSync('test', { recursive: true })
  .map((f) => `test/${f.split('\\').join('/')}`)
  .filter((f) => f.endsWith('.test.ts'))
  .sort();
for (const f of SLOW_FIRST) if (!all.includes(f)) throw new Error(`test/mocharc.full.cjs: ${f} is listed but does not exist`);

const raw = process.env.TEST_JOBS;
const jobs = raw ? Number(raw) : 4;
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`TEST_JOBS must be a whole number of at least 1, got "${raw}"`);

module.exports = {
  ...base,
  spec: [...SLOW_FIRST, ...all.filter((f) => !SLOW_FIRST.includes(f))],
  parallel: jobs > 1,
  jobs,
};
