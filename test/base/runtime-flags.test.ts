import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { flagsToApply, RUNTIME_V8_FLAGS } from '../../src/base/runtime-flags.ts';

describe('runtime V8 flags', () => {
  it('sets --optimize-for-size unless node’s command line names it either way', () => {
    expect(RUNTIME_V8_FLAGS).to.deep.equal(['--optimize-for-size']);
    expect(flagsToApply([])).to.deep.equal(['--optimize-for-size']);
    expect(flagsToApply(['--import', 'tsx', '--max-old-space-size=512'])).to.deep.equal(['--optimize-for-size']);
    expect(flagsToApply(['--no-optimize-for-size'])).to.deep.equal([]);
    expect(flagsToApply(['--no_optimize_for_size'])).to.deep.equal([]);
    expect(flagsToApply(['--optimize-for-size'])).to.deep.equal([]);
  });

  it('is accepted by this Node.js at run time (an unknown flag would be ignored silently)', () => {
    // `node --v8-options` lists every flag this V8 knows; a renamed flag would make ours a no-op.
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }).stdout;
    for (const flag of RUNTIME_V8_FLAGS) expect(options, flag).to.contain(`  ${flag} (`);
  });
});
