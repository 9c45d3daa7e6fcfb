// Mocha settings. The default timeout scales with TEST_TIME_FACTOR like every wait in the tests
// (test/helpers/time-factor.ts: 2 locally, 4 when CI=true). The root hooks (test/helpers/root-hooks.ts)
// fail the run if a process the suite started is still alive at its end.
const raw = process.env.TEST_TIME_FACTOR;
const factor = raw ? Number(raw) : process.env.CI === 'true' ? 4 : 2;

module.exports = {
  'node-option': ['import=tsx'],
  require: ['test/helpers/root-hooks.ts'],
  timeout: Math.round(20000 * (Number.isFinite(factor) && factor > 0 ? factor : 2)),
  exit: true,
};
