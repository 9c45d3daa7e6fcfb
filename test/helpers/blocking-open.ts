// Preloaded into the exporter (node --import) by tests: its opens of the paths in
// GTE_TEST_BLOCKING_OPEN (':'-separated FIFOs) lose O_NONBLOCK, so open() blocks in a libuv pool
// thread until a writer comes, as an open() on a hung NFS mount does. Nothing else changes.
import { constants, promises as fsp } from 'node:fs';

const paths = new Set((process.env.GTE_TEST_BLOCKING_OPEN ?? '').split(':').filter((p) => p !== ''));
const realOpen = fsp.open;
fsp.open = ((path: string, flags?: string | number, mode?: number) =>
  realOpen(path, typeof flags === 'number' && paths.has(path) ? flags & ~constants.O_NONBLOCK : flags, mode)) as typeof fsp.open;
