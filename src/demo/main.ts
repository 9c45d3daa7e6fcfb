// Runs the demo fleet on its own (docker-compose's Gitaly stand-in), prints the node table and
// writes a ready-to-use exporter config next to the certificates:
//   tsx src/demo/main.ts --host 0.0.0.0 --advertise-host gitaly-demo --base-port 10000 --dir /tmp/demo
// With --base-port, node i (0-based, table order) listens on metrics base+3i, TLS base+3i+1,
// plaintext base+3i+2; without it, ports are ephemeral.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log/logger.ts';
import { startDemoFleet, type DemoFleet } from './fleet.ts';
import { demoConfigYaml } from './demo-config.ts';

const USAGE = `usage: tsx src/demo/main.ts --dir DIR [--host 127.0.0.1] [--advertise-host NAME] [--base-port N]
                                [--migration-ms 120000] [--scale N] [--log-level info] [--log-format logfmt]`;

function positiveInteger(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new Error(`--${flag} must be a whole number, got "${text}"`);
  return Number(text);
}

/** One of `allowed`, or an error naming the flag and the choices. */
function oneOf<T extends string>(text: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(text)) throw new Error(`--${flag} must be one of ${allowed.join(', ')}, got "${text}"`);
  return text as T;
}

function nodeTable(fleet: DemoFleet): string {
  const rows = [
    ['NAME', 'ROLE', 'METRICS URL', 'TLS', 'PLAINTEXT'],
    ...fleet.nodes.map((n) => [n.name, n.role, n.metricsUrl, n.tlsAddress ?? '-', n.plaintextAddress ?? '-']),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, col) => cell.padEnd(widths[col] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'advertise-host': { type: 'string' },
      'base-port': { type: 'string' },
      'migration-ms': { type: 'string' },
      scale: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'log-format': { type: 'string', default: 'logfmt' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.dir) {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  // The exporter's log format, so both processes of the compose stack read alike.
  const logger = createLogger({
    level: oneOf<LogLevel>(values['log-level'], LOG_LEVELS, 'log-level'),
    format: oneOf<LogFormat>(values['log-format'], LOG_FORMATS, 'log-format'),
  });
  const dir = resolve(values.dir);
  const basePort = positiveInteger(values['base-port'], 'base-port');
  const migrationMs = positiveInteger(values['migration-ms'], 'migration-ms');
  const scale = positiveInteger(values.scale, 'scale');
  const fleet = await startDemoFleet({
    dir,
    host: values.host,
    logger,
    ...(values['advertise-host'] ? { advertiseHost: values['advertise-host'] } : {}),
    ...(basePort !== undefined ? { basePort } : {}),
    ...(migrationMs !== undefined ? { migrationMs } : {}),
    ...(scale !== undefined ? { scale } : {}),
  });
  const configFile = join(dir, 'exporter.yml');
  await writeFile(configFile, demoConfigYaml(fleet));
  process.stdout.write(`${nodeTable(fleet)}\n\nCA: ${fleet.caFile}\nExporter config: ${configFile}\n`);

  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'stopping the demo fleet');
    // Should stop never finish, still leave: a stuck stand-in must not block `docker compose down`.
    setTimeout(() => process.exit(1), 10_000).unref();
    fleet.stop().then(
      () => logger.info('demo fleet stopped'),
      (err: Error) => {
        logger.error({ err: err.message }, 'stopping the demo fleet failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: Error) => {
  process.stderr.write(`demo fleet: ${err.message}\n`);
  process.exit(1);
});
