import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { parseClientAddress } from '../../src/clients/client-routes.ts';
import { readClientReport } from '../../src/clients/read-clients.ts';
import type { ClientFileConfig, NodeConfig } from '../../src/config/types.ts';

const DIR = fileURLToPath(new URL('../fixtures/clients/', import.meta.url));

const INVENTORY: NodeConfig[] = [
  { name: 'gitaly-1', role: 'gitaly', tlsAddress: 'gitaly-1.internal:9999', plaintextAddress: 'gitaly-1.internal:8075' },
  { name: 'gitaly-2', role: 'gitaly', tlsAddress: 'gitaly-2.internal:9999', plaintextAddress: 'gitaly-2.internal:8075' },
  { name: 'gitaly-3', role: 'gitaly', plaintextAddress: 'gitaly-3.internal:8075' },
  { name: 'praefect-1', role: 'praefect', tlsAddress: 'praefect-1.internal:3305', plaintextAddress: 'praefect-1.internal:2305' },
];

const PUMA: ClientFileConfig = { name: 'puma on web-1', kind: 'gitlab_yml', path: `${DIR}gitlab.yml` };
const PRAEFECT: ClientFileConfig = { name: 'praefect-1', kind: 'praefect_config', path: `${DIR}praefect.toml` };

describe('client configuration → node → scheme', () => {
  it('gives the exact client → storage → node → scheme table and flags for gitlab.yml and Praefect config.toml', async () => {
    const report = await readClientReport([PUMA, PRAEFECT], INVENTORY);
    expect(report.errors).to.deep.equal([]);
    const table = report.routes.map((r) => [
      r.client,
      r.virtualStorage ?? '',
      r.storage,
      r.node,
      r.listener,
      r.scheme,
      r.tls,
      r.flags.join(' '),
      r.line,
    ]);
    expect(table).to.deep.equal([
      ['puma on web-1', '', 'default', 'gitaly-1', 'tcp', 'tcp', false, 'plaintext_to_tls_node', 10],
      ['puma on web-1', '', 'storage2', 'gitaly-2', 'tls', 'tls', true, '', 13],
      ['puma on web-1', '', 'storage3', 'gitaly-2', 'tcp', 'tcp', false, 'plaintext_to_tls_node', 15],
      ['puma on web-1', '', 'cluster', 'praefect-1', 'tcp', 'tcp', false, 'plaintext_to_tls_node', 17],
      ['puma on web-1', '', 'archive', null, null, 'tls', true, 'not_in_inventory', 19],
      ['puma on web-1', '', 'local', null, null, 'unix', false, '', 21],
      ['puma on web-1', '', 'legacy', null, null, null, false, 'no_address', 22],
      ['puma on web-1', '', 'oldcluster', 'praefect-1', 'tcp', 'dns', false, 'plaintext_to_tls_node unknown_virtual_storage', 25],
      ['puma on web-1', '', 'wrongport', 'gitaly-1', 'tcp', 'tls', true, 'scheme_listener_mismatch', 27],
      ['puma on web-1', '', 'nextgen', 'gitaly-3', 'tcp', 'tcp', false, 'no_tls_listener', 29],
      ['praefect-1', 'cluster', 'gitaly-1', 'gitaly-1', 'tcp', 'tcp', false, 'plaintext_to_tls_node', 16],
      ['praefect-1', 'cluster', 'gitaly-2', 'gitaly-2', 'tls', 'tls', true, '', 21],
      ['praefect-1', 'cluster', 'gitaly-3', 'gitaly-3', 'tcp', 'tcp', false, 'no_tls_listener', 26],
      ['praefect-1', 'default', 'gitaly-8', null, null, 'tcp', false, 'not_in_inventory', 34],
      ['praefect-1', 'default', 'gitaly-2-tls', 'gitaly-2', 'tls', 'dns+tls', true, '', 39],
    ]);
  });

  it('says what to change, in a sentence naming client, node, storage, file and line', async () => {
    const report = await readClientReport([PUMA, PRAEFECT], INVENTORY);
    const messages = report.routes.flatMap((r) => r.messages);
    expect(messages).to.include(
      `puma on web-1 still dials gitaly-1 in plaintext for storage "default": change gitaly_address to tls://gitaly-1.internal:9999 (${DIR}gitlab.yml:10)`,
    );
    expect(messages).to.include(
      `praefect-1 still dials gitaly-1 in plaintext for virtual storage "cluster" node "gitaly-1": change address to tls://gitaly-1.internal:9999 (${DIR}praefect.toml:16)`,
    );
    expect(messages).to.include(
      `praefect-1 dials 10.0.0.8:8075 for virtual storage "default" node "gitaly-8", which is no node's tls_address or plaintext_address in this exporter's inventory: add the node or fix the address (${DIR}praefect.toml:34)`,
    );
    expect(messages).to.include(
      `puma on web-1 sends storage "oldcluster" to Praefect praefect-1, but no Praefect config.toml read here has a virtual storage of that name (${DIR}gitlab.yml:25)`,
    );
    expect(messages).to.include(
      `puma on web-1 dials gitaly-1's plaintext listener with TLS for storage "wrongport": change gitaly_address to tls://gitaly-1.internal:9999 (${DIR}gitlab.yml:27)`,
    );
    expect(messages).to.include(`puma on web-1: storage "legacy" has no gitaly_address (${DIR}gitlab.yml:22)`);
  });

  it('never reads or shows a token', async () => {
    const report = await readClientReport([PUMA, PRAEFECT, { ...PRAEFECT, name: 'broken', path: `${DIR}praefect-broken.toml` }], INVENTORY);
    expect(JSON.stringify(report)).to.not.match(/do-not-show/);
  });

  it('without a Praefect config, does not judge virtual storage names', async () => {
    const report = await readClientReport([PUMA], INVENTORY);
    expect(report.routes.find((r) => r.storage === 'oldcluster')?.flags).to.deep.equal(['plaintext_to_tls_node']);
  });

  it('reports a broken or missing file with file:line:column, and keeps the other clients', async () => {
    const report = await readClientReport(
      [
        { ...PUMA, name: 'sidekiq on worker-1', path: `${DIR}gitlab-broken.yml` },
        { ...PRAEFECT, name: 'praefect-2', path: `${DIR}praefect-broken.toml` },
        { ...PUMA, name: 'gone', path: `${DIR}missing.yml` },
        { ...PRAEFECT, name: 'not praefect', path: `${DIR}gitlab.yml` },
        PUMA,
      ],
      INVENTORY,
    );
    expect(report.errors.map((e) => [e.client, e.error.code, e.error.message])).to.deep.equal([
      [
        'sidekiq on worker-1',
        'PARSE',
        `${DIR}gitlab-broken.yml:6:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      ],
      ['praefect-2', 'PARSE', `${DIR}praefect-broken.toml:5:40: invalid TOML: control characters are not allowed in strings`],
      ['gone', 'READ', `${DIR}missing.yml does not exist`],
      ['not praefect', 'PARSE', `${DIR}gitlab.yml:2:11: invalid TOML: illegal character in key`],
    ]);
    expect(report.routes).to.have.length(10);
  });

  it('parses every scheme Rails and Go clients use', () => {
    expect(parseClientAddress('tls://gitaly-1.internal:9999', 'gitlab_yml')).to.deep.equal({
      ok: true,
      scheme: 'tls',
      hostPort: 'gitaly-1.internal:9999',
    });
    expect(parseClientAddress('dns:///Gitaly.internal:8075', 'gitlab_yml')).to.deep.equal({
      ok: true,
      scheme: 'dns',
      hostPort: 'gitaly.internal:8075',
    });
    expect(parseClientAddress('dns://10.0.0.53:53/gitaly.internal:8075', 'gitlab_yml')).to.deep.equal({
      ok: true,
      scheme: 'dns',
      hostPort: 'gitaly.internal:8075',
    });
    expect(parseClientAddress('tcp://[fd00::5]:8075', 'praefect_config')).to.deep.equal({
      ok: true,
      scheme: 'tcp',
      hostPort: '[fd00::5]:8075',
    });
    expect(parseClientAddress('unix:/var/opt/gitlab/gitaly/gitaly.socket', 'gitlab_yml')).to.deep.equal({
      ok: true,
      scheme: 'unix',
      hostPort: null,
    });
    expect(parseClientAddress('dns+tls://gitaly.internal:9999', 'gitlab_yml')).to.deep.equal({
      ok: false,
      message: 'dns+tls:// is for Go clients; GitLab Rails does not accept it',
    });
    expect(parseClientAddress('gitaly.internal:8075', 'gitlab_yml')).to.deep.equal({
      ok: false,
      message: 'has no tcp://, tls://, unix: or dns: scheme',
    });
  });
});
