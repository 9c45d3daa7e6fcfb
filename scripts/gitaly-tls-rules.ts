// Rewrites deploy/prometheus/rules/gitaly-tls.rules.yml from src/rules/ with the shipped settings
// (no links). For your own copy, with links and your selector, use the exporter itself:
//   gitaly-tls-exporter rules --runbook-url URL --grafana-url URL [--selector …] > gitaly-tls.rules.yml
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderRules } from '../src/rules/build.ts';

export { DEFAULT_RULES_CONFIG, type RulesConfig } from '../src/rules/config.ts';
export { runbookAnchor } from '../src/rules/context.ts';
export { PHASE_ORDINALS } from '../src/rules/recording.ts';
export type { Rule, RuleFile } from '../src/rules/types.ts';
export { buildRules, renderRules } from '../src/rules/build.ts';

export const RULES_OUTPUT = fileURLToPath(new URL('../deploy/prometheus/rules/gitaly-tls.rules.yml', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeFileSync(RULES_OUTPUT, renderRules());
