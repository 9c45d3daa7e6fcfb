import { parseAddress } from '../../base/address.ts';

/** The port of a configured listener address, if it has one. */
export function portOf(address: string | undefined): number | undefined {
  if (!address) return undefined;
  const parsed = parseAddress(address, ['tls://', 'tcp://']);
  return parsed.ok ? parsed.value.port : undefined;
}
