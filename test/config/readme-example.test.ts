import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.ts';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

describe('README configuration examples', () => {
  it('the smallest example points the exporter at Prometheus, and loads as written', () => {
    const section = readFileSync(README, 'utf8').split('## Configuration')[1]!;
    const smallest = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const config = parseConfig(`state_file: /tmp/readme-example-state.json\n${smallest}`, 'README.md', {
      fileExists: (p) => (p === '/tmp' || p === '/etc/gitlab/trusted-certs' ? 'dir' : 'file'),
      dirWritable: () => true,
    });
    expect(config.nodes).to.deep.equal([]);
    expect(config.discovery?.prometheus).to.deep.equal({
      selector: 'job=~"gitaly|praefect"',
      templates: { name: '{host}', tlsAddress: '{host}:9999', plaintextAddress: '{host}:8075' },
    });
  });
});
