// docs/runbook.md's openssl and grpcurl commands are pasted as they are: each takes "$addr", which the
// runbook's snippet sets from the node's TLS address in either form (host:port or tls://host:port).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT } from '../helpers/dashboard-queries.ts';

const RUNBOOK = readFileSync(join(REPO_ROOT, 'docs', 'runbook.md'), 'utf8');

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
});
