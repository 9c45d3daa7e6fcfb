import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openOnStablePort, randomPort, stablePortRange } from '../../src/demo/stable-port.ts';
import { startSimulatedNode } from '../../src/demo/gitaly-node.ts';

describe('demo/stable-port: gRPC listeners outside the ephemeral range', () => {
  const rangeFile = (text: string): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'gte-ports-')), 'range');
    writeFileSync(file, text);
    return file;
  };

  it('takes ports below the kernel’s ephemeral range, or none when that range starts too low', () => {
    expect(stablePortRange(rangeFile('32768\t60999\n'))).to.deep.equal({ low: 10_000, high: 32_767 });
    expect(stablePortRange(rangeFile('1024 65535\n'))).to.equal(null);
    expect(stablePortRange('/nonexistent/ip_local_port_range')).to.equal(null);
    expect(randomPort({ low: 10_000, high: 32_767 }, () => 0)).to.equal(10_000);
    expect(randomPort({ low: 10_000, high: 32_767 }, () => 0.999999)).to.equal(32_767);
  });

  it('tries another port when one is taken, and falls back to an ephemeral one', async () => {
    const tried: number[] = [];
    const taken = Object.assign(new Error('taken'), { code: 'EADDRINUSE' });
    const port = await openOnStablePort(
      (p) => {
        tried.push(p);
        return p === 0 ? Promise.resolve(0) : Promise.reject(taken);
      },
      { low: 20_000, high: 20_001 },
      3,
    );
    expect(port).to.equal(0);
    expect(tried).to.have.length(4);
    expect(tried.slice(0, 3).every((p) => p === 20_000 || p === 20_001)).to.equal(true);
    // Any other error is not a taken port: it is passed on.
    const denied = Object.assign(new Error('denied'), { code: 'EACCES' });
    let caught: unknown;
    await openOnStablePort(() => Promise.reject(denied), { low: 20_000, high: 20_001 }).catch((err: unknown) => (caught = err));
    expect(caught).to.equal(denied);
  });

  it('a simulated node’s removed listen_addr keeps refusing: its port is not one listen(0) hands out', async () => {
    const range = stablePortRange();
    const node = await startSimulatedNode({ name: 'g', role: 'gitaly', host: '127.0.0.1', metricsBulk: 'small' });
    try {
      const port = Number(new URL(`tcp://${node.plaintextAddress!}`).port);
      if (range) expect(port).to.be.within(range.low, range.high);
      await node.closePlaintextListener();
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
      });
      expect(refused).to.equal(true);
    } finally {
      await node.stop();
    }
  });
});
