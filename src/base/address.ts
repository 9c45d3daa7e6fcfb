// Parses the addresses Gitaly and GitLab use: host:port, tls://host:port, tcp://host:port, [v6]:port.

export interface HostPort {
  host: string;
  port: number;
  /** True when host is an IPv4 or IPv6 literal. */
  isIp: boolean;
}

export type ParsedAddress = { ok: true; value: HostPort } | { ok: false; message: string };

const SCHEMES = ['tls://', 'tcp://', 'dns+tls://', 'dns://'];

export function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/**
 * `allowedSchemes` lists the prefixes accepted for this field (e.g. ['tls://'] for tls_address);
 * anything else with :// is an error, so a tcp:// in a TLS field is caught, not silently dialled.
 */
/** The input as error messages may show it: quoted, control bytes escaped, userinfo hidden. */
function shown(input: string): string {
  return JSON.stringify(input.replace(/^([a-z+]+:\/\/)?[^@/]*@/i, '$1<redacted>@'));
}

export function parseAddress(input: string, allowedSchemes: readonly string[] = []): ParsedAddress {
  let rest = input.trim();
  const scheme = SCHEMES.find((s) => rest.toLowerCase().startsWith(s));
  if (scheme) {
    if (!allowedSchemes.includes(scheme)) {
      return {
        ok: false,
        message: `scheme ${scheme} is not allowed here (use ${allowedSchemes.length ? allowedSchemes.join(' or ') + ' or ' : ''}host:port)`,
      };
    }
    rest = rest.slice(scheme.length);
  } else if (rest.includes('://')) {
    return { ok: false, message: `unknown scheme in ${shown(input)} (use host:port)` };
  }
  if (rest.includes('@')) return { ok: false, message: `${shown(input)}: credentials (user:password@) do not belong in an address` };
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return { ok: false, message: `${shown(input)} is not [ipv6]:port` };
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) return { ok: false, message: `${shown(input)} has no port (expected host:port)` };
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) return { ok: false, message: `${shown(input)}: write IPv6 addresses as [addr]:port` };
  }
  // eslint-disable-next-line no-control-regex -- control bytes are exactly what must be refused
  if (host === '' || /[\s/@\x00-\x1f\x7f]/.test(host)) return { ok: false, message: `${shown(input)} has no valid host` };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return { ok: false, message: `${shown(input)} has no valid port (1-65535)` };
  }
  return { ok: true, value: { host, port: Number(portText), isIp: isIpLiteral(host) } };
}

export function formatHostPort({ host, port }: { host: string; port: number }): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
