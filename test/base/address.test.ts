import { expect } from 'chai';
import { formatHostPort, parseAddress } from '../../src/base/address.ts';

describe('address parsing', () => {
  it('reads host:port, bracketed IPv6 and allowed schemes', () => {
    expect(parseAddress('gitaly-1.internal:9999')).to.deep.equal({
      ok: true,
      value: { host: 'gitaly-1.internal', port: 9999, isIp: false },
    });
    expect(parseAddress('tls://10.0.0.5:9999', ['tls://'])).to.deep.equal({
      ok: true,
      value: { host: '10.0.0.5', port: 9999, isIp: true },
    });
    expect(parseAddress('[::1]:8075')).to.deep.equal({ ok: true, value: { host: '::1', port: 8075, isIp: true } });
    expect(formatHostPort({ host: '::1', port: 8075 })).to.equal('[::1]:8075');
  });

  const bad: Array<[string, string[], string]> = [
    ['tcp://gitaly:8075', ['tls://'], 'scheme tcp:// is not allowed here (use tls:// or host:port)'],
    ['http://gitaly:80', [], 'unknown scheme in "http://gitaly:80" (use host:port)'],
    ['gitaly', [], '"gitaly" has no port (expected host:port)'],
    ['::1:8075', [], '"::1:8075": write IPv6 addresses as [addr]:port'],
    ['[::1]8075', [], '"[::1]8075" is not [ipv6]:port'],
    ['gitaly:0', [], '"gitaly:0" has no valid port (1-65535)'],
    ['gitaly:65536', [], '"gitaly:65536" has no valid port (1-65535)'],
    [':9999', [], '":9999" has no valid host'],
    ['gitaly\u0000:9999', [], '"gitaly\\u0000:9999" has no valid host'],
    ['user:s3cret@gitaly:9999', [], '"<redacted>@gitaly:9999": credentials (user:password@) do not belong in an address'],
    ['tls://u:p@gitaly:9999', ['tls://'], '"tls://<redacted>@gitaly:9999": credentials (user:password@) do not belong in an address'],
  ];
  for (const [input, schemes, message] of bad) {
    it(`refuses ${JSON.stringify(input)} with a message that names it safely`, () => {
      expect(parseAddress(input, schemes)).to.deep.equal({ ok: false, message });
    });
  }
});
