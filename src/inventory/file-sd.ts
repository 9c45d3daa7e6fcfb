// Prometheus file_sd files (JSON or YAML, Prometheus's own format: a list of {targets, labels}
// groups) as an inventory source. Every problem names the file and line; one bad target fails the
// source, which blocks the fleet until it is fixed, rather than dropping a node without a word.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { FileSdConfig, NodeConfig } from '../config/types.ts';
import { readBounded, type FileLimits } from './read-bounded.ts';
import { hostVars, nodeFromTarget } from '../config/template.ts';
import type { InventorySource, SourceResult } from './types.ts';
import type { ErrorCode } from '../base/error-codes.ts';

/** Problems listed in one error; the rest are counted. */
const SHOWN = 5;

function fail(code: ErrorCode, message: string): SourceResult {
  return { ok: false, error: { code, message } };
}

/** JSON.parse's error position as line:column (computed here: Node versions word it differently). */
function jsonErrorAt(text: string, message: string): string {
  const pos = /position (\d+)/.exec(message);
  if (!pos) {
    const lc = /line (\d+) column (\d+)/.exec(message);
    return lc ? `${lc[1]}:${lc[2]}` : '1';
  }
  const before = text.slice(0, Number(pos[1]));
  return `${before.split('\n').length}:${Number(pos[1]) - before.lastIndexOf('\n')}`;
}

export function parseFileSd(text: string, file: string, cfg: Pick<FileSdConfig, 'templates'>, instanceLabel: string): SourceResult {
  const json = /\.json$/i.test(file);
  if (json) {
    try {
      JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message;
      return fail(
        'PARSE',
        `${file}:${jsonErrorAt(text, message)}: invalid JSON: ${message.replace(/ in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '')}`,
      );
    }
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (node: { range?: readonly number[] | null } | null | undefined): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? file : `${file}:${lines.linePos(offset).line}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    return fail('PARSE', `${file}:${pos.line}:${pos.col}: invalid ${json ? 'JSON' : 'YAML'}: ${e.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  // An empty file is an empty list to Prometheus: no targets, not an error.
  if (root === null || (isScalar(root) && root.value === null)) return { ok: true, nodes: [] };
  if (!isSeq(root)) return fail('PARSE', `${at(root)}: must be a list of target groups, each with targets: and optional labels:`);
  const problems: string[] = [];
  const nodes: NodeConfig[] = [];
  const names = new Map<string, string>();
  root.items.forEach((group, g) => {
    if (!isMap(group)) {
      problems.push(`${at(group)}: target group ${g + 1} must be a mapping with targets: and labels:`);
      return;
    }
    for (const pair of group.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (key !== 'targets' && key !== 'labels')
        problems.push(`${at(pair.key)}: target group ${g + 1}: unknown key "${key}" (file_sd groups have targets: and labels:)`);
    }
    const targets = group.get('targets', true);
    const labelsNode = group.get('labels', true);
    const labels: Record<string, string> = {};
    if (labelsNode !== undefined && labelsNode !== null && !(isScalar(labelsNode) && labelsNode.value === null)) {
      if (!isMap(labelsNode)) {
        problems.push(`${at(labelsNode)}: target group ${g + 1}: labels must be a mapping of label names to strings`);
        return;
      }
      for (const pair of labelsNode.items) {
        const name = isScalar(pair.key) ? String(pair.key.value) : '';
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) || !isScalar(pair.value) || typeof pair.value.value !== 'string') {
          problems.push(
            `${at(pair.key as YamlNode)}: target group ${g + 1}: label ${JSON.stringify(name)} must be a label name with a string value`,
          );
          continue;
        }
        labels[name] = pair.value.value;
      }
    }
    if (!isSeq(targets)) {
      problems.push(`${at(targets ?? group)}: target group ${g + 1} needs targets: a list of host:port`);
      return;
    }
    for (const t of targets.items) {
      if (!isScalar(t) || typeof t.value !== 'string' || t.value.trim() === '') {
        problems.push(`${at(t as YamlNode)}: target group ${g + 1}: each target must be a "host:port" string`);
        continue;
      }
      const target = t.value.trim();
      const where = `${at(t)}: target ${target}`;
      const vars: Record<string, string> = {
        ...labels,
        __address__: target,
        target,
        instance: labels[instanceLabel] ?? labels.instance ?? target,
        ...hostVars(target),
      };
      const metricsUrl = `${labels.__scheme__ ?? 'http'}://${target}${labels.__metrics_path__ ?? '/metrics'}`;
      const made = nodeFromTarget(cfg.templates, vars, { metricsUrl, prometheusInstance: vars.instance }, where);
      if (!made.ok) {
        problems.push(made.message);
        continue;
      }
      const first = names.get(made.node.name);
      if (first) {
        problems.push(`${where}: node name "${made.node.name}" is already used by ${first} (set a name template that tells them apart)`);
        continue;
      }
      names.set(made.node.name, `target ${target} (${at(t)})`);
      nodes.push(made.node);
    }
  });
  if (problems.length > 0) {
    const more = problems.length > SHOWN ? `; and ${problems.length - SHOWN} more problem(s)` : '';
    return fail('PARSE', problems.slice(0, SHOWN).join('; ') + more);
  }
  return { ok: true, nodes };
}

export function fileSdSource(cfg: FileSdConfig, instanceLabel: string, limits: FileLimits): InventorySource {
  return {
    id: `file_sd ${cfg.file}`,
    kind: 'file_sd',
    async discover() {
      const read = await readBounded(cfg.file, limits);
      if (!read.ok) return read;
      return parseFileSd(read.text, cfg.file, cfg, instanceLabel);
    },
  };
}
