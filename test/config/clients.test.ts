// The clients: list and local mode's peer keys, strict like the rest of the config file.
import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../src/config/load.ts';

const FILES = new Set(['/etc/gitlab/gitlab.yml', '/etc/praefect/config.toml', '/srv/state']);
const deps = {
  cwd: '/srv',
  fileExists: (p: string) => (p === '/srv/state' || p === '/srv' || p === '/proc' ? 'dir' : FILES.has(p) ? 'file' : 'missing'),
  dirWritable: () => true,
};
const NODES = `nodes:
  - name: gitaly-1
    tls_address: gitaly-1.internal:9999
    plaintext_address: gitaly-1.internal:8075
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'exporter.yml', deps);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return expect.fail('the configuration was accepted');
}

describe('config: clients and local peers', () => {
  it('reads client files by name and kind, and local mode defaults', () => {
    const config = parseConfig(
      `${NODES}local:
  node: gitaly-1
clients:
  - name: puma on web-1
    gitlab_yml: /etc/gitlab/gitlab.yml
  - name: praefect-1
    praefect_config: /etc/praefect/config.toml
`,
      'exporter.yml',
      deps,
    );
    expect(config.clients).to.deep.equal([
      { name: 'puma on web-1', kind: 'gitlab_yml', path: '/etc/gitlab/gitlab.yml' },
      { name: 'praefect-1', kind: 'praefect_config', path: '/etc/praefect/config.toml' },
    ]);
    expect(config.local).to.deep.equal({ node: 'gitaly-1', procRoot: '/proc', reverseDns: false, peerMetricLimit: 10 });
  });

  it('has no clients when the key is absent', () => {
    expect(parseConfig(NODES, 'exporter.yml', deps).clients).to.equal(undefined);
  });

  it('rejects bad entries with file:line:column and field', () => {
    expect(
      problems(`${NODES}local:
  node: gitaly-1
  reverse_dns: yes please
  peer_metric_limit: 0
clients:
  - name: puma on web-1
    gitlab_yaml: /etc/gitlab/gitlab.yml
  - name: praefect-1
    gitlab_yml: /etc/gitlab/gitlab.yml
    praefect_config: /etc/praefect/config.toml
  - name: praefect-1
    praefect_config: /etc/praefect/missing.toml
  - gitlab_yml: /etc/gitlab/gitlab.yml
  - just a string
`),
    ).to.deep.equal([
      'exporter.yml:7:16: local.reverse_dns: must be true or false',
      'exporter.yml:8:22: local.peer_metric_limit: must be an integer from 1 to 1000',
      'exporter.yml:10:5: clients[0]: needs one of gitlab_yml (GitLab Rails config/gitlab.yml) or praefect_config (Praefect config.toml)',
      'exporter.yml:11:5: clients[0].gitlab_yaml: unknown key (did you mean gitlab_yml?)',
      'exporter.yml:14:22: clients[1].praefect_config: give either gitlab_yml or praefect_config, not both: list each file as its own client',
      'exporter.yml:15:11: clients[2].name: "praefect-1" is already the name of clients[1]',
      'exporter.yml:16:22: clients[2].praefect_config: /etc/praefect/missing.toml does not exist or cannot be read',
      'exporter.yml:17:5: clients[3].name: is required',
      'exporter.yml:18:5: clients[4]: must be a mapping (name:, gitlab_yml: or praefect_config:), not a single value',
    ]);
  });
});
