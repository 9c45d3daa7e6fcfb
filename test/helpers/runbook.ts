// docs/runbook.md read as its readers navigate it: one `## Alert` section per alert, `### ` parts in
// each (Meaning, How to confirm, How to fix, …) and, under How to fix, one `#### ` path per kind of
// installation. The preamble before the first alert is kept apart (the shared set-up and warnings).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './dashboard-queries.ts';

export const RUNBOOK_FILE = join(REPO_ROOT, 'docs', 'runbook.md');

export interface RunbookSection {
  /** The `## ` heading: the alert's name. */
  title: string;
  /** Each `### ` part's text (its `#### ` paths included), by heading. */
  parts: Map<string, string>;
  /** The `#### ` paths under "How to fix", by heading. */
  fixPaths: Map<string, string>;
}

export interface Runbook {
  text: string;
  /** Everything before the first `## `. */
  preamble: string;
  sections: RunbookSection[];
}

/** Splits `text` at lines starting with `prefix` (outside fenced code): [text before the first, [heading, body]…]. */
function splitAt(text: string, prefix: string): [string, Array<[string, string]>] {
  const pieces: Array<[string, string[]]> = [];
  const before: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced && line.startsWith(prefix)) pieces.push([line.slice(prefix.length).trim(), []]);
    else (pieces.at(-1)?.[1] ?? before).push(line);
  }
  return [before.join('\n'), pieces.map(([heading, lines]) => [heading, lines.join('\n')])];
}

export function readRunbook(file = RUNBOOK_FILE): Runbook {
  const text = readFileSync(file, 'utf8');
  const [preamble, alerts] = splitAt(text, '## ');
  const sections = alerts.map(([title, body]) => {
    const parts = new Map(splitAt(body, '### ')[1]);
    const fixPaths = new Map(splitAt(parts.get('How to fix') ?? '', '#### ')[1]);
    return { title, parts, fixPaths };
  });
  return { text, preamble, sections };
}
