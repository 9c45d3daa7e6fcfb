// gitaly-tls-exporter rules: prints the Prometheus rules for this version, with the operator's links,
// selector and environment labels. Works from the one-file install (no checkout needed).
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.ts';
import { parseLabelMatchers } from '../base/label-matchers.ts';
import { renderRules } from './build.ts';
import { DEFAULT_RULES_CONFIG, TUNABLE_SETTINGS, type RulesConfig } from './config.ts';

export const RULES_USAGE = `Usage:
  gitaly-tls-exporter rules --runbook-url URL [--grafana-url URL] [--selector MATCHERS]
                            [--cluster-label LABELS] [--set NAME=VALUE]... > gitaly-tls.rules.yml
  gitaly-tls-exporter rules --no-links [...]

Prints the Prometheus alert and recording rules on standard output.
  --runbook-url URL     where docs/runbook.md of this version is served (your wiki, or the repository
                        at this version's tag); each alert links to its section (URL#alertname)
  --grafana-url URL     Grafana's address; each alert links to its dashboard (URL/d/UID?var-node=NODE).
                        Without it the alerts carry no dashboard_url
  --no-links            no runbook_url and no dashboard_url (what the shipped deploy/ file has)
  --selector MATCHERS   the exporter's scrape job (default ${DEFAULT_RULES_CONFIG.exporterSelector});
                        it keeps a /probe job, whose series have the same names, out of the alerts
  --cluster-label LABELS  comma-separated labels that tell environments apart, kept through every
                        aggregation (default ${DEFAULT_RULES_CONFIG.clusterLabels.join(',')}; '' for none)
  --set NAME=VALUE      ${Object.keys(TUNABLE_SETTINGS).join(', ')}
                        (defaults ${Object.keys(TUNABLE_SETTINGS)
                          .map((k) => String(DEFAULT_RULES_CONFIG[k as keyof typeof TUNABLE_SETTINGS]))
                          .join(', ')})`;

/** Labels the rules group or join by themselves: an environment label cannot be one of them. */
const RULE_LABELS = new Set([
  'node',
  'address',
  'position',
  'serial',
  'source',
  'type',
  'family',
  'instance',
  'prometheus_instance',
  'phase',
  'reason',
  'severity',
  'alertname',
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class RulesUsageError extends Error {}

function linkUrl(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RulesUsageError(`${flag} must be an absolute http:// or https:// URL, not ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new RulesUsageError(`${flag} must be an http:// or https:// URL, not ${JSON.stringify(text)}`);
  if (url.hash !== '')
    throw new RulesUsageError(`${flag} must not have a #fragment (each alert adds its own), got ${JSON.stringify(text)}`);
  if (flag === '--grafana-url' && url.search !== '')
    throw new RulesUsageError(`--grafana-url must not have a ?query, got ${JSON.stringify(text)}`);
  return text.replace(/\/+$/, '');
}

function clusterLabels(text: string): string[] {
  const labels = text
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  for (const label of labels) {
    if (!LABEL_NAME.test(label)) throw new RulesUsageError(`--cluster-label: ${JSON.stringify(label)} is not a label name`);
    if (RULE_LABELS.has(label))
      throw new RulesUsageError(
        `--cluster-label: ${label} is a label the rules group by themselves; name the label that tells your environments apart (cluster, env…)`,
      );
  }
  return labels;
}

function applySetting(config: RulesConfig, pair: string): void {
  const eq = pair.indexOf('=');
  const key = pair.slice(0, Math.max(eq, 0));
  const value = pair.slice(eq + 1);
  if (eq < 1) throw new RulesUsageError(`--set expects NAME=VALUE, got ${JSON.stringify(pair)}`);
  if (!(key in TUNABLE_SETTINGS))
    throw new RulesUsageError(`--set: unknown setting ${key}; known: ${Object.keys(TUNABLE_SETTINGS).join(', ')}`);
  const name = key as keyof typeof TUNABLE_SETTINGS;
  if (TUNABLE_SETTINGS[name] === 'number') {
    const n = Number(value);
    // Days become a range selector ([7d]): whole numbers only.
    if (!Number.isInteger(n) || n <= 0)
      throw new RulesUsageError(`--set ${key} must be a whole number above 0, got ${JSON.stringify(value)}`);
    (config as unknown as Record<string, number>)[name] = n;
    return;
  }
  let ms = 0;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new RulesUsageError(`--set ${key}: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new RulesUsageError(`--set ${key} must be above 0, got ${JSON.stringify(value)}`);
  (config as unknown as Record<string, string>)[name] = value.trim();
}

/** The rules' settings from the command line; throws RulesUsageError naming the flag at fault. */
export function rulesConfigFromArgs(argv: string[]): RulesConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'runbook-url': { type: 'string' },
        'grafana-url': { type: 'string' },
        'no-links': { type: 'boolean', default: false },
        selector: { type: 'string' },
        'cluster-label': { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
      },
    }));
  } catch (err) {
    throw new RulesUsageError((err as Error).message);
  }
  const config: RulesConfig = { ...DEFAULT_RULES_CONFIG };
  if (values['no-links']) {
    if (values['runbook-url'] !== undefined || values['grafana-url'] !== undefined)
      throw new RulesUsageError('--no-links leaves out the links: give it without --runbook-url and --grafana-url');
  } else if (values['runbook-url'] === undefined) {
    throw new RulesUsageError(
      '--runbook-url is required: the address where docs/runbook.md of this version is served (your wiki, or the repository at its tag); each alert links to its section. --no-links leaves the links out instead',
    );
  } else {
    config.runbookUrl = linkUrl('--runbook-url', values['runbook-url']);
    if (values['grafana-url'] !== undefined) config.grafanaUrl = linkUrl('--grafana-url', values['grafana-url']);
  }
  if (values.selector !== undefined) {
    const parsed = parseLabelMatchers(values.selector);
    if (!parsed.ok) throw new RulesUsageError(`--selector ${parsed.message}`);
    if (parsed.matchers.length === 0)
      throw new RulesUsageError('--selector needs at least one matcher (job="..."): without one a /probe job would duplicate every alert');
    config.exporterSelector = parsed.matchers.join(', ');
  }
  if (values['cluster-label'] !== undefined) config.clusterLabels = clusterLabels(values['cluster-label']);
  for (const pair of values.set) applySetting(config, pair);
  if (config.certCriticalDays >= config.certWarningDays) {
    throw new RulesUsageError(
      `--set certCriticalDays (${config.certCriticalDays}) must be smaller than certWarningDays (${config.certWarningDays})`,
    );
  }
  return config;
}

/** The subcommand: rules on standard output, or a usage error (exit 2) without a stack trace. */
export function rulesCommand(argv: string[], out: { stdout(text: string): void; stderr(text: string): void }): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.stdout(`${RULES_USAGE}\n`);
    return 0;
  }
  let config: RulesConfig;
  try {
    config = rulesConfigFromArgs(argv);
  } catch (err) {
    if (!(err instanceof RulesUsageError)) throw err;
    out.stderr(`gitaly-tls-exporter rules: ${err.message}\n\n${RULES_USAGE}\n`);
    return 2;
  }
  if (config.runbookUrl !== undefined && config.grafanaUrl === undefined) {
    out.stderr('gitaly-tls-exporter rules: no --grafana-url: the alerts carry no dashboard_url\n');
  }
  out.stdout(renderRules(config));
  return 0;
}
