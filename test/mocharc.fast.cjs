// `npm run test:fast`: the unit tests, for the inner loop (well under a minute on 2 cores). Left
// out, and run by `npm test` (and CI) only: whatever starts a real Prometheus server, Chromium,
// docker-compose or a whole exporter process, and the slow integration, fault, load and fuzz
// suites. promtool (Debian package prometheus) is still used: `promtool check metrics` is a
// static check of a page, part of the metrics unit tests.
const base = require('../.mocharc.cjs');

module.exports = {
  ...base,
  spec: ['test/**/*.test.ts'],
  ignore: [
    'test/integration/**', // real Prometheus, exporter processes, minutes
    'test/faults/**', // exporter processes under faults, real Prometheus
    'test/load/**', // many concurrent scrapers
    'test/deploy/**', // real Prometheus, promtool rule tests, docker-compose
    'test/fuzz/**', // long property runs
    'test/**/*.browser.test.ts', // headless Chromium
    'test/sources/prometheus.test.ts', // real Prometheus
    'test/sources/prometheus-window-count.test.ts', // real Prometheus
    'test/cli.test.ts', // exporter processes
    'test/inventory/prometheus-discovery.test.ts', // real Prometheus and the demo fleet
    'test/inventory/cli-discovery.test.ts', // exporter processes
    'test/demo/main.test.ts', // demo fleet process
    'test/packaging/**', // builds the bundle, the executable, the .deb (dpkg -i), npm pack; runs them; systemd-analyze
  ],
};
