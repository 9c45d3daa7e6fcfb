// What every rule builder shares: the exporter selector, the environment labels kept through each
// aggregation and join, and the annotations (with links only where the operator gave an address).
import type { RulesConfig } from './config.ts';

export type Dashboard = 'gitaly-tls-migration' | 'gitaly-tls-certificates';

export interface RuleContext {
  config: RulesConfig;
  /** The exporter's scrape job as matchers, for `up{…}`. */
  sel: string;
  /** An exporter metric restricted to the exporter's job, with extra matchers. */
  m: (name: string, ...matchers: string[]) => string;
  /** `by (cluster, …)`: the environment labels first, so two fleets never merge. */
  by: (...labels: string[]) => string;
  /** `on (cluster, …)`, for joins. */
  on: (...labels: string[]) => string;
  annotations: (alert: string, dashboard: Dashboard, text: { summary: string; description: string }) => Record<string, string>;
}

/** The heading anchor GitHub and GitLab give "## GitalyTLSFoo": lower case. */
export const runbookAnchor = (alert: string): string => alert.toLowerCase();

export function ruleContext(config: RulesConfig): RuleContext {
  const sel = config.exporterSelector.trim();
  const labels = (extra: string[]) => [...new Set([...config.clusterLabels, ...extra])].join(', ');
  return {
    config,
    sel,
    m: (name, ...matchers) => `${name}{${[sel, ...matchers].filter((s) => s !== '').join(', ')}}`,
    by: (...extra) => `by (${labels(extra)})`,
    on: (...extra) => `on (${labels(extra)})`,
    annotations: (alert, dashboard, text) => ({
      ...text,
      ...(config.runbookUrl === undefined ? {} : { runbook_url: `${config.runbookUrl}#${runbookAnchor(alert)}` }),
      ...(config.grafanaUrl === undefined
        ? {}
        : { dashboard_url: `${config.grafanaUrl}/d/${dashboard}{{ with $labels.node }}?var-node={{ . }}{{ end }}` }),
    }),
  };
}
