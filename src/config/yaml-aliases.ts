// YAML aliases (*name) of a parsed document, resolved in one pass. The yaml library's own
// Alias.resolve searches the whole document for each alias, so a file of many aliases costs the
// square of its size (2,000 aliases in 31 KB: 4 s on the main thread); this is linear, and a file
// with more aliases than any real configuration has is refused before any alias is followed.
import { isAlias, visit, type Alias, type Document, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';

type Target = Scalar | YAMLMap | YAMLSeq;

/** Anchors for shared settings stay well under this, in the exporter's config and in a gitlab.yml. */
export const MAX_ALIASES = 1_000;

/** What is wrong with a file that has more: its name goes in front. */
export const TOO_MANY_ALIASES = `uses more than ${MAX_ALIASES} YAML aliases (*name); write the values out`;

export interface AliasIndex {
  /** More than MAX_ALIASES aliases: counting stopped there and resolve() knows none of them. */
  tooMany: boolean;
  /** The node an alias stands for: the last node before it anchored with its name; undefined for none. */
  resolve(alias: Alias): Target | undefined;
}

export function indexAliases(doc: Document): AliasIndex {
  // Walked in document order, as Alias.resolve walks it, so both pick the same anchor.
  const anchors = new Map<string, Target>();
  const targets = new Map<Alias, Target | undefined>();
  let tooMany = false;
  visit(doc, {
    Node: (_key, node) => {
      if (!isAlias(node)) {
        if (node.anchor) anchors.set(node.anchor, node);
        return undefined;
      }
      if (targets.size >= MAX_ALIASES) {
        tooMany = true;
        return visit.BREAK;
      }
      targets.set(node, anchors.get(node.source));
      return undefined;
    },
  });
  return { tooMany, resolve: (alias) => (tooMany ? undefined : targets.get(alias)) };
}
