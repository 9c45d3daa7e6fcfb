// docs/runbook.md serves both kinds of GitLab fleet: each alert's fix says what to do on the Linux
// package (gitlab.rb, gitlab-ctl) and on the Helm chart (Secret, StatefulSet, toolbox pod), in the
// notation each one is configured in, and ends with the check that proves clients reach Gitaly again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT, readRules } from '../helpers/dashboard-queries.ts';
import { readRunbook, type RunbookSection } from '../helpers/runbook.ts';

const OMNIBUS = 'Linux package (Omnibus)';
const HELM = 'Kubernetes (Helm chart)';
const OMNIBUS_CHECK = 'sudo gitlab-rake gitlab:gitaly:check';
const HELM_CHECK = 'kubectl -n "$NAMESPACE" exec deploy/"$RELEASE"-toolbox -c toolbox -- gitlab-rake gitlab:gitaly:check';
const RESTART_WARNING = '### Restarting Gitaly: one node at a time';
const RESTART_LINK = '(#restarting-gitaly-one-node-at-a-time)';

/** A path that changes Gitaly, Praefect or their clients (not only the exporter or Prometheus). */
const changesGitLabOmnibus = (body: string): boolean =>
  /gitlab-ctl restart (gitaly|praefect)/.test(body) ||
  (/gitlab-ctl reconfigure/.test(body) && /gitaly\['configuration'\]|praefect\['configuration'\]|repositories_storages|trusted-certs/.test(body));
const CHANGES_GITLAB_HELM = /rollout restart (statefulset|deployment -l)|delete pod "\$GITALY_POD"|helm upgrade/;
/** A path that restarts a Gitaly process or pod. */
const RESTARTS_GITALY = /gitlab-ctl restart gitaly|rollout restart statefulset|delete pod "\$GITALY_POD"/;

const runbook = readRunbook();
const alertNames = [...new Set(readRules().groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : []))))];
const section = (alert: string): RunbookSection | undefined => runbook.sections.find((s) => s.title === alert);

/** Each fix path by "Alert / path"; a fix without paths counts as one unnamed path, so its text is still held to the rules. */
function fixPaths(): Array<[string, string]> {
  return runbook.sections.flatMap((s) =>
    s.fixPaths.size > 0 ? [...s.fixPaths].map(([name, body]): [string, string] => [`${s.title} / ${name}`, body]) : [[s.title, s.parts.get('How to fix') ?? '']],
  );
}

describe('docs/runbook.md: a fix for the Linux package and for the Helm chart under every alert', () => {
  it('every alert of the rules file has a section whose How to fix gives both paths, neither empty', () => {
    const problems: string[] = [];
    for (const alert of alertNames) {
      const paths = section(alert)?.fixPaths;
      if (!paths) {
        problems.push(`${alert}: no section`);
        continue;
      }
      for (const want of [OMNIBUS, HELM]) {
        const body = paths.get(want);
        if (body === undefined) problems.push(`${alert}: no "#### ${want}" under How to fix`);
        else if (body.trim().length < 40) problems.push(`${alert}: "#### ${want}" is empty`);
      }
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('every path that changes Gitaly, Praefect or their clients ends in the gitlab:gitaly:check of its kind of installation', () => {
    const problems: string[] = [];
    for (const [name, body] of fixPaths()) {
      if (changesGitLabOmnibus(body) && !name.endsWith(HELM) && !body.includes(OMNIBUS_CHECK)) problems.push(`${name}: no \`${OMNIBUS_CHECK}\``);
      if (CHANGES_GITLAB_HELM.test(body) && !name.endsWith(OMNIBUS) && !body.includes(HELM_CHECK)) problems.push(`${name}: no \`${HELM_CHECK}\``);
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it("the Linux package paths use gitlab.rb's gitaly['configuration'] (certificate_path with key_path), never config.toml's [tls]", () => {
    const problems: string[] = [];
    for (const [name, body] of fixPaths()) {
      if (name.endsWith(HELM)) continue;
      if (body.includes('[tls]')) problems.push(`${name}: config.toml's [tls] notation`);
      if (body.includes('certificate_path') && !(body.includes("gitaly['configuration']") && body.includes('key_path')))
        problems.push(`${name}: certificate_path without gitaly['configuration'] and key_path`);
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('every path that restarts a Gitaly links the warning that a restart interrupts its storage outside Gitaly Cluster', () => {
    const warning = runbook.preamble.split(RESTART_WARNING)[1]?.split('\n### ')[0];
    expect(warning, `the preamble's "${RESTART_WARNING}"`).to.be.a('string');
    expect(warning).to.match(/interrupt/).and.to.match(/Praefect/).and.to.match(/one (node|pod) at a time/);
    const unlinked = fixPaths()
      .filter(([, body]) => RESTARTS_GITALY.test(body) && !body.includes(RESTART_LINK))
      .map(([name]) => name);
    expect(unlinked, `restart Gitaly without linking ${RESTART_LINK}`).to.deep.equal([]);
  });

  it('every link to a section, in the runbook or in another doc, names a heading that exists', () => {
    // GitHub's anchors: the heading in lower case, punctuation dropped, spaces as hyphens.
    const anchors = (markdown: string) =>
      new Set([...markdown.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
    const links = [...runbook.text.matchAll(/\]\(([\w./-]*)#([^)\s]+)\)/g)].map((m) => ({ file: m[1]!, anchor: m[2]! }));
    expect(links.length, 'links to sections').to.be.greaterThan(20);
    const broken = links
      .filter(({ file, anchor }) => !anchors(file === '' ? runbook.text : readFileSync(join(REPO_ROOT, 'docs', file), 'utf8')).has(anchor))
      .map(({ file, anchor }) => `${file}#${anchor}`);
    expect(broken).to.deep.equal([]);
  });
});
