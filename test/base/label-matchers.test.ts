// One label-matcher checker: what the config loader accepts is exactly what the Prometheus source
// pastes into its queries (they had two checkers with different rules).
import { expect } from 'chai';
import { labelMatchers } from '../../src/config/schema.ts';
import { checkSelector } from '../../src/sources/prometheus.ts';

function viaConfig(selector: string): string | Error {
  try {
    return labelMatchers(selector);
  } catch (err) {
    return err as Error;
  }
}

describe('label matchers: one checker for the config and the Prometheus source', () => {
  const cases: Array<[string, string | null]> = [
    ['job="gitaly"', 'job="gitaly"'],
    ['{job="gitaly", env=~"prod.*",}', 'job="gitaly", env=~"prod.*"'],
    ["path=~`/a}{b`, env!~'dev|test'", "path=~`/a}{b`, env!~'dev|test'"],
    ['note="say \\"hi\\" }"', 'note="say \\"hi\\" }"'],
    ['__name__="up"', null],
    ['job="a\nb"', null],
    ['job=gitaly', null],
    ['job="gitaly"} or vector(1) {', null],
  ];
  for (const [selector, normalised] of cases) {
    it(`${normalised === null ? 'refuses' : 'accepts'} ${JSON.stringify(selector)} in both places`, () => {
      const config = viaConfig(selector);
      const source = checkSelector(selector);
      if (normalised === null) {
        expect(config).to.be.instanceOf(Error);
        expect(source.ok).to.equal(false);
      } else {
        expect(config).to.equal(normalised);
        expect(source).to.deep.equal({ ok: true, matchers: normalised });
      }
    });
  }
});
