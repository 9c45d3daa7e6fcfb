import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { countPeers, decodeProcAddress, keepTopPeers, type PeerCount } from '../../src/peers/socket-peers.ts';
import { readEstablished } from '../../src/sources/sockets.ts';

// Fixture host 10.0.0.5 with Gitaly's listen_addr on 8075 and tls_listen_addr on 9999 (see sockets.test.ts).
const PROC = fileURLToPath(new URL('../fixtures/proc', import.meta.url));

describe('socket peers', () => {
  describe('decodeProcAddress', () => {
    it('reads IPv4 in host byte order, little- and big-endian', () => {
      expect(decodeProcAddress('0100007F', true)).to.equal('127.0.0.1');
      expect(decodeProcAddress('7F000001', false)).to.equal('127.0.0.1');
      expect(decodeProcAddress('1000000A', true)).to.equal('10.0.0.16');
    });

    it('reads IPv6 word by word, compresses zeros, and shows IPv4-mapped addresses as IPv4', () => {
      expect(decodeProcAddress('00000000000000000000000001000000', true)).to.equal('::1');
      expect(decodeProcAddress('B80D0120000000000000000009000000', true)).to.equal('2001:db8::9');
      expect(decodeProcAddress('20010DB8000000000000000000000009', false)).to.equal('2001:db8::9');
      expect(decodeProcAddress('0000000000000000FFFF00001300000A', true)).to.equal('10.0.0.19');
      expect(decodeProcAddress('000080FE000000000403020108070605', true)).to.equal('fe80::102:304:506:708');
    });
  });

  it('lists ESTABLISHED peers per listener with their counts, over tcp and tcp6, most connections first', async () => {
    const result = await readEstablished(PROC, { tcp: 8075, tls: 9999 }, {}, { peers: true });
    expect(result).to.deep.equal({
      ok: true,
      established: { tcp: 2, tls: 3 },
      peers: [
        { address: '10.0.0.16', listener: 'tcp', connections: 1 },
        { address: '10.0.0.16', listener: 'tls', connections: 1 },
        { address: '10.0.0.17', listener: 'tcp', connections: 1 },
        { address: '10.0.0.19', listener: 'tls', connections: 1 },
        { address: '2001:db8::9', listener: 'tls', connections: 1 },
      ],
      peersNotKept: { tcp: { peers: 0, connections: 0 }, tls: { peers: 0, connections: 0 } },
    });
  });

  it('keeps the top peers of each listener and counts the others per listener', () => {
    const counted: PeerCount[] = [
      { address: '10.0.0.1', listener: 'tcp', connections: 1 },
      { address: '10.0.0.2', listener: 'tcp', connections: 5 },
      { address: '10.0.0.3', listener: 'tcp', connections: 2 },
      { address: '10.0.0.4', listener: 'tls', connections: 9 },
      { address: '10.0.0.5', listener: 'tls', connections: 7 },
      { address: '10.0.0.6', listener: 'tls', connections: 8 },
    ];
    // The TLS peers have more connections, and still do not take the plaintext listener's places.
    expect(keepTopPeers(counted, 2)).to.deep.equal({
      peers: [
        { address: '10.0.0.4', listener: 'tls', connections: 9 },
        { address: '10.0.0.6', listener: 'tls', connections: 8 },
        { address: '10.0.0.2', listener: 'tcp', connections: 5 },
        { address: '10.0.0.3', listener: 'tcp', connections: 2 },
      ],
      notKept: { tcp: { peers: 1, connections: 1 }, tls: { peers: 1, connections: 7 } },
    });
  });

  it('adds several connections from one address into one peer, each connection once', () => {
    const line = (i: number, remote: string) =>
      `   ${i}: 0500000A:1F8B ${remote}:${(0xc000 + i).toString(16).toUpperCase()} 01 00000000:00000000 00:00000000 00000000   998        0 ${i} 1 0 20 4 30 10 -1`;
    // The last line repeats the first connection, as a /proc read racing a socket change can.
    const text = [
      '  sl  local_address rem_address   st',
      line(0, '1000000A'),
      line(1, '1000000A'),
      line(2, '1100000A'),
      line(0, '1000000A'),
    ].join('\n');
    const into = new Map<string, PeerCount>();
    countPeers(text, { tcp: 8075 }, into, true);
    expect([...into.values()]).to.deep.equal([
      { address: '10.0.0.16', listener: 'tcp', connections: 2 },
      { address: '10.0.0.17', listener: 'tcp', connections: 1 },
    ]);
  });

  it('leaves the result as it was when peers are not asked for', async () => {
    expect(await readEstablished(PROC, { tcp: 8075, tls: 9999 })).to.deep.equal({ ok: true, established: { tcp: 2, tls: 3 } });
  });
});
