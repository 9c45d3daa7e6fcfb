import { expect } from 'chai';
import { parseGitlabYml } from '../../src/clients/gitlab-yml.ts';
import { MAX_ALIASES } from '../../src/config/yaml-aliases.ts';

const FILE = '/etc/gitlab/gitlab.yml';

/** A gitlab.yml whose storages are each an alias to one anchored storage. */
function aliasedStorages(count: number): string {
  const lines = ['shared: &gitaly', '  gitaly_address: tcp://gitaly-1.internal:8075', 'production:', '  repositories:', '    storages:'];
  for (let i = 0; i < count; i++) lines.push(`      s${i}: *gitaly`);
  return `${lines.join('\n')}\n`;
}

describe('gitlab.yml', () => {
  it('refuses a file of 4,000 aliases to one anchor with an error naming the file, rather than following each', () => {
    const r = parseGitlabYml(aliasedStorages(4_000), FILE);
    expect(r).to.deep.equal({
      ok: false,
      error: { code: 'PARSE', message: `${FILE}: the file uses more than ${MAX_ALIASES} YAML aliases (*name); write the values out` },
    });
  });

  it(`reads a file of exactly ${MAX_ALIASES} aliases`, () => {
    const r = parseGitlabYml(aliasedStorages(MAX_ALIASES), FILE);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.storages).to.have.length(MAX_ALIASES);
    expect(r.storages.every((s) => s.address === 'tcp://gitaly-1.internal:8075')).to.equal(true);
  });

  it('follows a few anchors and aliases as written, the last anchor of a name before the alias winning', () => {
    const text = [
      'addresses:',
      '  one: &addr tcp://gitaly-1.internal:8075',
      '  tls: &tls tls://gitaly-2.internal:9999',
      'production: &base',
      '  repositories:',
      '    storages:',
      '      default:',
      '        gitaly_address: *addr',
      '      storage2: &second',
      '        gitaly_address: *tls',
      '      storage3: *second',
      '      late:',
      '        gitaly_address: &addr tcp://gitaly-3.internal:8075',
      '      after:',
      '        gitaly_address: *addr',
      'development: *base',
      '',
    ].join('\n');
    const r = parseGitlabYml(text, FILE);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.storages.map((s) => [s.storage, s.address])).to.deep.equal([
      ['default', 'tcp://gitaly-1.internal:8075'],
      ['storage2', 'tls://gitaly-2.internal:9999'],
      ['storage3', 'tls://gitaly-2.internal:9999'],
      ['late', 'tcp://gitaly-3.internal:8075'],
      ['after', 'tcp://gitaly-3.internal:8075'],
    ]);
  });
});

describe('gitlab.yml merge keys', () => {
  it('takes a storage setting from a merged map (<<: *defaults), its own keys winning', () => {
    const text = [
      'defaults: &defaults',
      '  gitaly_address: tcp://gitaly-1.internal:8075',
      'tls_defaults: &tls',
      '  gitaly_address: tls://gitaly-2.internal:9999',
      'production:',
      '  repositories:',
      '    storages:',
      '      default:',
      '        <<: *defaults',
      '      storage2:',
      '        <<: [*tls, *defaults]',
      '      storage3:',
      '        <<: *defaults',
      '        gitaly_address: tcp://gitaly-3.internal:8075',
      '',
    ].join('\n');
    const r = parseGitlabYml(text, FILE);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.storages.map((s) => [s.storage, s.address, s.line])).to.deep.equal([
      ['default', 'tcp://gitaly-1.internal:8075', 2],
      ['storage2', 'tls://gitaly-2.internal:9999', 4],
      ['storage3', 'tcp://gitaly-3.internal:8075', 14],
    ]);
  });

  it('reads a storage whose merged map merges itself as one without the setting, rather than searching it without end', () => {
    const text = [
      'loop: &loop',
      '  path: /var/opt/gitlab/git-data',
      '  <<: *loop',
      'production:',
      '  repositories:',
      '    storages:',
      '      default:',
      '        <<: *loop',
      '',
    ].join('\n');
    expect(parseGitlabYml(text, FILE)).to.deep.equal({ ok: true, storages: [{ storage: 'default', address: null, line: 7 }] });
  });
});
