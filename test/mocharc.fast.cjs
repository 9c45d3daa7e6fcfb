// `npm run test:fast`: the unit tests, for the inner loop (well under a minute on 2 cores). Left
// out, and run by `npm test` (and CI) only: whatever starts a real Prometheus server, Chromium,
// docker-compose or a whole exporter process, and the slow integration, fault, load and fuzz
// suites. promtool (Debian package prometheus) is still used: `promtool check metrics` is a
// static check of a page, part of the metrics unit tests.
const base = require('../.mocharc.cjs');

module.exports = {
  ...base,
  spec: ['test/**/*.test.ts'],
  // Slow files say so in their names: `*.slow.test.ts` (a real Prometheus or VictoriaMetrics,
  // exporter or demo processes, promtool rule tests, docker-compose, builds of the bundle, the
  // executable and the .deb), `*.browser.test.ts` (headless Chromium), `*.fuzz.test.ts` (long
  // property runs).
  ignore: ['test/**/*.slow.test.ts', 'test/**/*.browser.test.ts', 'test/**/*.fuzz.test.ts'],
};
