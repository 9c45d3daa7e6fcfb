// Resolves the config's file paths against the config file's directory and checks they exist or are writable.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { DEFAULTS, text } from './schema.ts';
import type { MapView, Reader } from './yaml-reader.ts';

/** What every section reader gets: where to report problems and how to look at the file system. */
export interface Context {
  reader: Reader;
  /** Relative paths in the file resolve against the config file's directory. */
  baseDir: string;
  fileExists(path: string): 'file' | 'dir' | 'missing';
  dirWritable(path: string): boolean;
}

/** Absolute path of an existing file or directory; relative paths resolve against the config file's directory. */
export function readPath(
  view: MapView,
  key: string,
  kind: 'file' | 'dir' | 'file-or-dir',
  ctx: Context,
  options: { required?: boolean; fallback?: string } = {},
): string | undefined | null {
  const value = options.required ? view.required(key, text) : view.withDefault(key, text, options.fallback);
  if (value === null || value === undefined) return value;
  const resolved = path.resolve(ctx.baseDir, value);
  const found = ctx.fileExists(resolved);
  const [where, suffix] = view.has(key) ? [view.at(key), ''] : [null, ' (the default)'];
  if (found === 'missing') ctx.reader.report(view.fieldOf(key), where, `${resolved} does not exist or cannot be read${suffix}`);
  else if (kind === 'file' && found === 'dir') ctx.reader.report(view.fieldOf(key), where, `${resolved} is a directory, not a file`);
  else if (kind === 'dir' && found === 'file')
    ctx.reader.report(view.fieldOf(key), where, `${resolved} is a file, not a directory${suffix}`);
  return resolved;
}

export function readStateFile(root: MapView, ctx: Context): string | null {
  const value = root.withDefault('state_file', text, DEFAULTS.stateFile);
  if (value === null) return null;
  const resolved = path.resolve(ctx.baseDir, value);
  const dir = path.dirname(resolved);
  const [where, hint] = root.has('state_file')
    ? [root.at('state_file'), '']
    : [null, ' (state_file defaults to a file next to the config file; set it to a writable path)'];
  const report = (message: string) => ctx.reader.report('state_file', where, message + hint);
  if (ctx.fileExists(resolved) === 'dir') report(`${resolved} is a directory, not a file`);
  else if (ctx.fileExists(dir) !== 'dir') report(`directory ${dir} does not exist`);
  else if (!ctx.dirWritable(dir)) report(`directory ${dir} is not writable by this user`);
  return resolved;
}

export function fileKind(p: string): 'file' | 'dir' | 'missing' {
  try {
    const isDir = statSync(p).isDirectory();
    accessSync(p, isDir ? constants.R_OK | constants.X_OK : constants.R_OK);
    return isDir ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

export function isWritableDir(p: string): boolean {
  try {
    accessSync(p, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
