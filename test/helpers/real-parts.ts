// The real programs the full suite drives. A missing one fails the test that needs it, with the
// Debian package to install; it is never skipped. (`.ci/run` installs them all.)
import { existsSync } from 'node:fs';

export const REAL_PARTS = {
  prometheus: { path: process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus', env: 'PROMETHEUS_BIN', debianPackage: 'prometheus' },
  victoriaMetrics: {
    path: process.env.VICTORIA_METRICS_BIN ?? '/usr/bin/victoria-metrics',
    env: 'VICTORIA_METRICS_BIN',
    debianPackage: 'victoria-metrics',
  },
  vmalert: { path: process.env.VMALERT_BIN ?? '/usr/bin/vmalert', env: 'VMALERT_BIN', debianPackage: 'victoria-metrics' },
  promtool: { path: process.env.PROMTOOL_BIN ?? '/usr/bin/promtool', env: 'PROMTOOL_BIN', debianPackage: 'prometheus' },
  chromium: { path: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', env: 'CHROMIUM_BIN', debianPackage: 'chromium' },
  dockerCompose: {
    path: process.env.DOCKER_COMPOSE_BIN ?? '/usr/bin/docker-compose',
    env: 'DOCKER_COMPOSE_BIN',
    debianPackage: 'docker-compose',
  },
} as const;

/** The path of a real program, or an error naming the package that provides it. */
export function realPart(name: keyof typeof REAL_PARTS): string {
  const part = REAL_PARTS[name];
  if (!existsSync(part.path)) {
    const program = part.path.split('/').pop();
    throw new Error(
      `${program} not found at ${part.path}: install it with apt-get install -y ${part.debianPackage} (${part.env} overrides the path)`,
    );
  }
  return part.path;
}
