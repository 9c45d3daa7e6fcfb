// docs/runbook.md's commands are pasted as they are: each names the node, the pod or the file through
// a variable that one of the runbook's set-up snippets sets (the TLS address in either form,
// host:port or tls://host:port; the Helm release and the node's pod), never a <placeholder> to edit.
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { readRunbook } from '../helpers/runbook.ts';

const RUNBOOK = readRunbook().text;
/** Programs whose commands the runbook gives to paste (after an optional `sudo`). */
const PROGRAMS = ['kubectl', 'helm', 'gitlab-ctl', 'gitlab-rake', 'openssl', 'grpcurl', 'curl', 'nc', 'systemctl', 'journalctl', 'amtool', 'gitaly-tls-exporter'];
const COMMAND = new RegExp(`^(sudo )?(${PROGRAMS.join('|')}) `);

/** The ```sh blocks, fences stripped. */
const shBlocks = (): string[] => [...RUNBOOK.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Every command to paste: inline code spans and sh block lines that start with one of PROGRAMS. */
function commands(): string[] {
  const inline = [...RUNBOOK.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  const lines = shBlocks().flatMap((block) => block.split('\n'));
  return [...inline, ...lines].map((c) => c.trim()).filter((c) => COMMAND.test(c));
}

/** Names the snippets set (`NAME=…` at the start of a line of a sh block). */
function snippetVariables(): Set<string> {
  return new Set(shBlocks().flatMap((block) => [...block.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]!)));
}

describe('docs/runbook.md: commands that dial a node paste as they are', () => {
  it('every openssl s_client -connect and grpcurl names "$addr", never a placeholder to fill with tls://…', () => {
    const dials = [...RUNBOOK.matchAll(/`((?:openssl s_client|grpcurl) [^`]*)`/g)].map((m) => m[1]!);
    expect(dials.length).to.be.greaterThan(3);
    for (const command of dials) expect(command, command).to.contain('"$addr"');
  });

  it('its snippet sets addr to host:port from tls://host:port and from host:port', () => {
    const snippet = /```sh\n(TLS_ADDRESS=[\s\S]*?)```/.exec(RUNBOOK)?.[1];
    expect(snippet, 'the TLS_ADDRESS snippet').to.be.a('string');
    const body = snippet!.split('\n').filter((l) => !l.startsWith('TLS_ADDRESS=')).join('\n');
    for (const given of ['tls://gitaly-1.internal:9999', 'gitaly-1.internal:9999', 'tls://[2001:db8::1]:9999']) {
      const r = spawnSync('sh', ['-e', '-c', `${body}\nprintf %s "$addr"`], { env: { TLS_ADDRESS: given }, encoding: 'utf8' });
      expect(r.stdout, given).to.equal(given.replace('tls://', ''));
    }
  });

  it('every command to paste names only variables a snippet sets, and no <placeholder> to fill in', () => {
    const set = snippetVariables();
    const all = commands();
    expect(all.filter((c) => c.startsWith('kubectl ')).length, 'kubectl commands').to.be.greaterThan(5);
    const problems = all.flatMap((command) => [
      ...(/<[A-Za-z][^<>/]*>/.test(command) ? [`${command}: a <placeholder>`] : []),
      ...[...command.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!).filter((v) => !set.has(v)).map((v) => `${command}: $${v} is set by no snippet`),
    ]);
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('every sh block parses (sh -n)', () => {
    for (const block of shBlocks()) {
      const r = spawnSync('sh', ['-n', '-c', block], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status, `${block}\n${r.stderr}`).to.equal(0);
    }
  });

  it("its Kubernetes snippet finds the node's StatefulSet from its pod, with or without Gitaly Cluster", () => {
    const snippet = /```sh\n(NAMESPACE=[\s\S]*?)```/.exec(RUNBOOK)?.[1];
    expect(snippet, 'the NAMESPACE snippet').to.be.a('string');
    const body = snippet!.split('\n').filter((l) => !l.startsWith('GITALY_POD=')).join('\n');
    for (const [pod, statefulSet] of [['gitlab-gitaly-0', 'gitlab-gitaly'], ['gitlab-gitaly-default-12', 'gitlab-gitaly-default']]) {
      const r = spawnSync('sh', ['-e', '-c', `${body}\nprintf %s "$GITALY_STS"`], { env: { GITALY_POD: pod }, encoding: 'utf8', timeout: 10_000 });
      expect(r.stdout, pod).to.equal(statefulSet);
    }
  });
});
