// Nodes from the targets of a Prometheus that scrapes the fleet: every active target whose labels
// match the selector, with the URL Prometheus scrapes; its role from the counter family it exports.
// Two requests per collection whatever the fleet's size: /api/v1/targets and one instant query.
import type { PrometheusConfig, NodeTemplates } from '../config/types.ts';
import type { NodeConfig } from '../config/types.ts';
import { PRAEFECT_FAMILY } from '../sources/metrics-parser.ts';
import { apiGet, DEFAULT_MAX_SAMPLES, instantQuery, type PrometheusDeps } from '../sources/prometheus-client.ts';
import { checkSelector } from '../sources/prometheus.ts';
import { describeTarget, TargetsAnswer, type Matcher } from './targets-answer.ts';
import { hostVars, nodeFromTarget, templateVariables } from '../config/template.ts';
import type { InventorySource, SourceResult } from './types.ts';
import type { ErrorCode } from '../base/error-codes.ts';

/** Requests per collection, whatever the number of targets (the benchmark checks it). */
export const DISCOVERY_REQUESTS = 2;

/**
 * Active targets the selector may match (as many as the sample cap allows in the role query: a
 * fleet far beyond any real one); past it the answer is abandoned (TOO_MANY_SAMPLES).
 */
export const DEFAULT_MAX_TARGETS = DEFAULT_MAX_SAMPLES;
const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)\s*(,|$)/y;

function unquote(literal: string): string {
  if (literal.startsWith('`')) return literal.slice(1, -1);
  const body = literal.slice(1, -1);
  const asDouble = literal.startsWith("'") ? body.replace(/\\'/g, "'").replace(/"/g, '\\"') : body;
  return JSON.parse(`"${asDouble}"`) as string;
}

/** The selector's matchers as predicates over a target's labels (regexes anchored, as in PromQL). */
export function compileSelector(selector: string): { ok: true; matchers: Matcher[] } | { ok: false; message: string } {
  const checked = checkSelector(selector);
  if (!checked.ok) return checked;
  const matchers: Matcher[] = [];
  MATCHER.lastIndex = 0;
  const text = checked.matchers;
  while (MATCHER.lastIndex < text.length) {
    const m = MATCHER.exec(text);
    if (!m) break;
    const [, name, op, literal] = m as unknown as [string, string, string, string];
    let value: string;
    try {
      value = unquote(literal);
    } catch {
      return { ok: false, message: `selector: cannot read the string ${literal}` };
    }
    if (op === '=' || op === '!=') {
      matchers.push({ name, test: (v) => (v === value) === (op === '=') });
      continue;
    }
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${value})$`, 'u');
    } catch {
      return { ok: false, message: `selector: ${literal} is not a regular expression this exporter can evaluate` };
    }
    matchers.push({ name, test: (v) => re.test(v) === (op === '=~') });
  }
  return { ok: true, matchers };
}

export function prometheusTargetsSource(
  prom: PrometheusConfig,
  discovery: { selector?: string; templates: NodeTemplates },
  limits: { timeoutMs: number; maxBytes: number; maxTargets?: number },
  deps: PrometheusDeps = {},
): InventorySource {
  const id = `prometheus targets {${discovery.selector ?? ''}}`;
  return {
    id,
    kind: 'prometheus',
    async discover(): Promise<SourceResult> {
      const fail = (code: ErrorCode, message: string): SourceResult => ({ ok: false, error: { code, message } });
      const compiled = compileSelector(discovery.selector ?? '');
      if (!compiled.ok) return fail('CONFIG', compiled.message);
      const sel = checkSelector(discovery.selector ?? '');
      if (!sel.ok) return fail('CONFIG', sel.message);
      const L = prom.instanceLabel;
      const now = deps.now ?? Date.now;
      // Praefect's counter family names a Praefect; before its first connection, its health gauge does.
      const withSel = (name: string) => `${name}{${sel.matchers}}`;
      const roleExpr = `group by (${L}) (${withSel(PRAEFECT_FAMILY)}) or group by (${L}) (${withSel('gitaly_praefect_node_last_healthcheck_up')})`;
      // Only the labels a node is made of are read from each target; the rest are left unread.
      const needed = new Set([...templateVariables(discovery.templates), ...compiled.matchers.map((m) => m.name), L, 'instance', 'job']);
      const maxTargets = limits.maxTargets ?? DEFAULT_MAX_TARGETS;
      const answer = (secrets: readonly string[]) => new TargetsAnswer(needed, compiled.matchers, L, maxTargets, secrets);
      const [targets, praefects] = await Promise.all([
        apiGet(prom, '/api/v1/targets', { state: 'active' }, limits, answer, deps),
        instantQuery(prom, roleExpr, now(), limits, deps),
      ]);
      if (!targets.ok) return targets;
      if (!praefects.ok) return praefects;
      const praefectInstances = new Set(praefects.samples.map((s) => s.labels[L]));
      const nodes: NodeConfig[] = [];
      const byName = new Map<string, NodeConfig>();
      const problems: string[] = [];
      // The answer has kept only the targets the selector matches.
      for (const t of targets.targets) {
        const instance = t.labels[L] ?? t.labels.instance ?? '';
        let target = '';
        try {
          target = new URL(t.scrapeUrl).host;
        } catch {
          // Left empty: a template naming {target} then leaves its field out.
        }
        const vars: Record<string, string> = { ...t.labels, instance, target, ...hostVars(target), ...hostVars(instance) };
        const what = describeTarget(t.labels, L);
        const made = nodeFromTarget(
          discovery.templates,
          vars,
          {
            metricsUrl: t.scrapeUrl,
            role: praefectInstances.has(instance) ? 'praefect' : 'gitaly',
            prometheusInstance: instance || undefined,
          },
          what,
        );
        if (!made.ok) {
          problems.push(made.message);
          continue;
        }
        const first = byName.get(made.node.name);
        // One instance scraped by two jobs is one node; two instances under one name are a template problem.
        if (first && first.prometheusInstance === made.node.prometheusInstance) continue;
        if (first) {
          problems.push(
            `${what}: node name "${made.node.name}" is also the name of instance ${first.prometheusInstance ?? '?'} (set a name template that tells them apart)`,
          );
          continue;
        }
        byName.set(made.node.name, made.node);
        nodes.push(made.node);
      }
      if (problems.length > 0) {
        return fail(
          'CONFIG',
          problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more problem(s)` : ''),
        );
      }
      return { ok: true, nodes };
    },
  };
}
