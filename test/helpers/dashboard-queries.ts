// Every PromQL expression the project ships (dashboard panels, dashboard variables, alert and
// recording rules), ready to run against a real Prometheus, plus the metric names they may use.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { RuleFile } from '../../scripts/gitaly-tls-rules.ts';
import { METRICS } from '../../src/metrics/definitions.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DASHBOARD_DIR = join(REPO_ROOT, 'dashboards');
export const RULES_FILE = join(REPO_ROOT, 'deploy', 'prometheus', 'rules', 'gitaly-tls.rules.yml');

/** The exporter's metric contract, from its one home (src/metrics/definitions.ts). */
export const CONTRACT_METRICS: readonly string[] = Object.keys(METRICS);

/** Series Prometheus gets elsewhere: Gitaly's and Praefect's own counters, and its own `up`. */
export const EXTERNAL_METRICS: readonly string[] = ['gitaly_connections_total', 'gitaly_praefect_connections_total', 'up'];

/** Grafana's built-in interval and range variables, at values that suit a short test run. */
const BUILTIN_VARIABLES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '1m',
  __interval_ms: '60000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
};

export interface DashboardQuery {
  /** The dashboard's uid. */
  dashboard: string;
  /** Panel title and query refId, e.g. `Fleet verdict [A]`, or `variable node`. */
  panel: string;
  /** PromQL with Grafana's variables substituted. */
  expr: string;
  /** The panel's type (`table`, `stat`, …), or `variable`. */
  type: string;
  /** Title of the row the panel sits under, if any. */
  row?: string;
}

interface Target {
  refId?: string;
  expr?: string;
}
interface Panel {
  type?: string;
  title?: string;
  targets?: Target[];
  panels?: Panel[];
}
export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  current?: { value?: string | string[] };
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  /** Annotation queries; a Prometheus one holds its PromQL in `expr`. */
  annotations?: { list: Array<{ name: string; expr?: string; datasource?: { type?: string; uid?: string } }> };
  [key: string]: unknown;
}

export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => join(DASHBOARD_DIR, name));
}

export function readDashboard(file: string): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Panels in layout order, rows' nested panels included; rows themselves left out. */
export function allPanels(dashboard: Dashboard): Panel[] {
  const out: Panel[] = [];
  const visit = (panels: Panel[] = []): void => {
    for (const panel of panels) {
      if (panel.type !== 'row') out.push(panel);
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

export function variableQuery(variable: Variable): string | undefined {
  return typeof variable.query === 'string' ? variable.query : variable.query?.query;
}

/** What a template variable stands for when "All" is selected (or its current value). */
function variableValue(variable: Variable): string | undefined {
  if (variable.type === 'datasource') return undefined;
  if (variable.includeAll) return variable.allValue ?? '.*';
  const current = variable.current?.value;
  return Array.isArray(current) ? current.join('|') : current;
}

/**
 * A query variable's value as Grafana's Prometheus data source puts it in a query
 * (interpolateQueryExpr and its classic escaping in Grafana 11's Prometheus data source): "All" is the
 * variable's allValue when it has one, else every option; several values become `(a|b)`; values of
 * a multi-value or All variable are regex-escaped, as the query uses them in `=~`.
 */
export function grafanaValue(variable: Variable, options: readonly string[], selected: readonly string[] | 'All'): string {
  if (selected === 'All' && variable.includeAll && variable.allValue) return variable.allValue;
  const values = selected === 'All' ? options : selected;
  if (!variable.multi && !variable.includeAll) return values.map((v) => v.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'")).join(',');
  const escaped = values.map((v) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]+?.()|]/g, '\\\\$&'));
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

/**
 * Replaces $name, ${name} and ${name:format} with test values; unknown names (e.g. $1) stay.
 * `chosen` holds variables' values as Grafana would put them in the query (they win over the
 * defaults: "All", or the current value).
 */
export function substituteVariables(expr: string, dashboard: Pick<Dashboard, 'templating'>, chosen: Record<string, string> = {}): string {
  const values: Record<string, string> = { ...BUILTIN_VARIABLES };
  for (const variable of dashboard.templating.list) {
    const value = variableValue(variable);
    if (value !== undefined) values[variable.name] = value;
  }
  Object.assign(values, chosen);
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    return values[name] ?? whole;
  });
}

/** label_values(selector, label) becomes the selector; other Grafana variable functions are not PromQL. */
export function variableAsPromql(query: string): string | undefined {
  const labelValues = /^\s*label_values\((.+),\s*\w+\s*\)\s*$/.exec(query);
  if (labelValues) return labelValues[1]!.trim();
  const queryResult = /^\s*query_result\((.+)\)\s*$/.exec(query);
  return queryResult ? queryResult[1]!.trim() : undefined;
}

/** Panels in layout order with the title of the row above each; rows themselves left out. */
function panelsWithRows(dashboard: Dashboard): Array<{ panel: Panel; row?: string }> {
  const out: Array<{ panel: Panel; row?: string }> = [];
  let row: string | undefined;
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') {
      row = panel.title;
      for (const nested of allPanels({ ...dashboard, panels: panel.panels ?? [] })) out.push({ panel: nested, row });
    } else out.push({ panel, ...(row === undefined ? {} : { row }) });
  }
  return out;
}

/**
 * Every variable and panel query of the shipped dashboards, variables substituted: "All" or the
 * current value, or what `chosen` gives for the dashboard.
 */
export function dashboardQueries(chosen: (dashboard: Dashboard) => Record<string, string> = () => ({})): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const file of dashboardFiles()) {
    const dashboard = readDashboard(file);
    const values = chosen(dashboard);
    for (const variable of dashboard.templating.list) {
      const query = variableQuery(variable);
      const expr = query === undefined || variable.type !== 'query' ? undefined : variableAsPromql(query);
      if (expr !== undefined)
        out.push({
          dashboard: dashboard.uid,
          panel: `variable ${variable.name}`,
          type: 'variable',
          expr: substituteVariables(expr, dashboard, values),
        });
    }
    for (const annotation of dashboard.annotations?.list ?? []) {
      if (annotation.expr)
        out.push({
          dashboard: dashboard.uid,
          panel: `annotation ${annotation.name}`,
          type: 'annotation',
          expr: substituteVariables(annotation.expr, dashboard, values),
        });
    }
    for (const { panel, row } of panelsWithRows(dashboard)) {
      for (const target of panel.targets ?? []) {
        if (!target.expr) continue;
        out.push({
          dashboard: dashboard.uid,
          panel: `${panel.title ?? '(untitled)'} [${target.refId ?? '?'}]`,
          type: panel.type ?? '',
          ...(row === undefined ? {} : { row }),
          expr: substituteVariables(target.expr, dashboard, values),
        });
      }
    }
  }
  return out;
}

export type { RuleFile } from '../../scripts/gitaly-tls-rules.ts';

export function readRules(file = RULES_FILE): RuleFile {
  return parse(readFileSync(file, 'utf8')) as RuleFile;
}

/** Every alert and recording rule, by name. Alert expressions return series only while they fire. */
export function ruleExpressions(): Array<{ name: string; expr: string }> {
  return readRules().groups.flatMap((group) =>
    group.rules.map((rule) => ({ name: rule.alert ?? rule.record ?? '', expr: rule.expr.trim() })),
  );
}

export function recordingRuleNames(): string[] {
  return readRules().groups.flatMap((group) => group.rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
  'atan2',
]);

/**
 * Metric names a PromQL expression selects. A small scanner, not a parser: it drops strings, label
 * matchers, ranges and grouping label lists, then keeps identifiers that are not functions or keywords.
 * Selectors by __name__ are invisible to it; the shipped expressions do not use them.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d[\w.]*/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice(match.index + name.length);
    if (KEYWORDS.has(name.toLowerCase()) || /^\s*\(/.test(after)) continue;
    names.add(name);
  }
  return [...names];
}
