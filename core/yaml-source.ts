/**
 * YAML with source positions. Every user file (scenarios, catalog entries, questions) is parsed
 * here so that every later problem can be reported as file:line:column.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { errorMessage, InputError, type LocatedProblem, type SourceLocation } from './errors.js';

export type PathSegment = string | number;
export type DataPath = readonly PathSegment[];

export interface YamlSource {
  file: string;
  text: string;
  /** The plain JS value of the document. */
  value: unknown;
  /** Location of the value (or, with `at: 'key'`, of the key) at `path`; falls back to the nearest ancestor. */
  locate(path: DataPath, at?: 'key' | 'value'): SourceLocation;
}

/** Aliases can expand exponentially ("billion laughs"); user files never need many. */
const MAX_ALIAS_COUNT = 100;

/** Scenario, catalog and question files are a few kilobytes; anything far bigger is not one. */
export const MAX_YAML_BYTES = 1024 * 1024;

/** Real files nest a handful of levels; deeper nesting is a mistake or an attack on the parser. */
export const MAX_YAML_DEPTH = 64;

function cannotRead(file: string, why: string): InputError {
  return new InputError(`${file}: cannot read: ${why}`, [{ file, line: 1, column: 1, message: `cannot read: ${why}` }]);
}

function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a plain file';
}

/**
 * The bytes of a user-given file, bounded: only a regular file (after following symlinks), at most
 * `maxBytes`. Opened non-blocking, so a FIFO cannot stall the open; checked on the open handle, so a
 * file swapped after a stat cannot slip through; read to the cap only, so a file that grows while it
 * is read (or lies about its size, like /proc files) cannot make the read unbounded.
 */
export async function readBoundedFile(file: string, displayName = file, maxBytes = MAX_YAML_BYTES): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ELOOP' ? 'too many symbolic links' : errorMessage(err);
    throw cannotRead(displayName, why);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw cannotRead(displayName, `${fileKind(st)}, not a regular file`);
    if (st.size > maxBytes) throw cannotRead(displayName, `${st.size} bytes, larger than the ${maxBytes}-byte limit for this kind of file`);
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > maxBytes) throw cannotRead(displayName, `larger than the ${maxBytes}-byte limit for this kind of file`);
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw cannotRead(displayName, code === 'EISDIR' ? 'a directory, not a regular file' : errorMessage(err));
  } finally {
    await handle.close();
  }
}

/** 1-based line and column (in characters) of byte `offset` in `bytes`. */
function bytePosition(bytes: Buffer, offset: number, file: string): SourceLocation {
  const before = bytes.subarray(0, offset);
  const lineStart = before.lastIndexOf(0x0a) + 1;
  const line = before.reduce((n, b) => (b === 0x0a ? n + 1 : n), 1);
  return { file, line, column: before.subarray(lineStart).toString('utf8').length + 1 };
}

/** Offset of the first byte that is not part of well-formed UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0xff >> (need + 2));
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Decode a user file as UTF-8; a binary file or an invalid byte is a located error, never silently replaced. */
export function decodeUserText(bytes: Buffer, file: string): string {
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new InputError(`${file}: not a text file`, [{ ...bytePosition(bytes, nul, file), message: 'a NUL byte: this is a binary file, not YAML text' }]);
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const hex = bytes[bad]!.toString(16).padStart(2, '0');
    throw new InputError(`${file}: invalid UTF-8`, [{ ...bytePosition(bytes, bad, file), message: `invalid UTF-8 (byte 0x${hex}); YAML files must be UTF-8 text` }]);
  }
  return bytes.toString('utf8');
}

export async function readYamlFile(file: string, displayName = file): Promise<YamlSource> {
  return parseYamlText(decodeUserText(await readBoundedFile(file, displayName), displayName), displayName);
}

/** Parse YAML text; syntax errors become an InputError listing every problem with its location. */
export function parseYamlText(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const pos = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { file, line, column: col };
  };
  const tooDeep = `nesting deeper than ${MAX_YAML_DEPTH} levels`;
  let doc: Document;
  try {
    // logLevel 'error': the parser's warnings go to doc.warnings (reported below), never to stderr.
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, logLevel: 'error' });
  } catch (err) {
    if (isStackOverflow(err)) throw new InputError(`${file}: invalid YAML`, [{ ...pos(0), message: `YAML: ${tooDeep}` }]);
    throw err;
  }
  const problems: LocatedProblem[] = [];
  // After the first syntax error the parser's later complaints are mostly echoes of it; one
  // precise message helps more than sixty.
  const syntax = doc.errors[0];
  if (syntax) {
    const at = pos(syntax.pos[0]);
    // The parser gives up on very deep flow collections with the engine's own words.
    if (/Maximum call stack size exceeded/.test(syntax.message)) {
      // Where it gave up depends on the stack left; where the nesting first got too deep does not.
      throw new InputError(`${file}: invalid YAML`, [{ ...pos(deepFlowOffset(text) ?? syntax.pos[0]), message: `YAML: ${tooDeep}` }]);
    }
    const line = text.split('\n')[at.line - 1] ?? '';
    const hint = line.includes('${{') && /[{[]/.test(line.replace(/\$\{\{[^}]*\}\}/g, ''))
      ? " (a value containing ${{ … }} inside { … } or [ … ] must be quoted: \"${{ matrix.x }}\")"
      : '';
    throw new InputError(`${file}: invalid YAML`, [{ ...at, message: `YAML: ${firstLine(syntax.message)}${hint}` }]);
  }
  // Before anything recursive (toJS, the schema walk, interpolation) sees the tree.
  const shape = shapeProblem(doc.contents);
  if (shape) throw new InputError(`${file}: invalid YAML`, [{ ...pos(shape.offset), message: `YAML: ${shape.kind === 'depth' ? tooDeep : shape.kind === 'key' ? 'a mapping key must be a plain value (text or a number), not a list or mapping' : 'an alias (*name) cannot be a mapping key'}` }]);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (isStackOverflow(err)) throw new InputError(`${file}: invalid YAML`, [{ ...pos(0), message: `YAML: ${tooDeep}` }]);
    throw new InputError(`${file}: invalid YAML`, [{ ...pos(0), message: `YAML: ${firstLine((err as Error).message)}` }]);
  }
  // Aliases can nest shallow trees inside each other: the value itself must be shallow too.
  if (valueHeight(value) > MAX_YAML_DEPTH) throw new InputError(`${file}: invalid YAML`, [{ ...pos(0), message: `YAML: ${tooDeep} (through aliases)` }]);
  for (const warning of doc.warnings) {
    // Warnings (e.g. unresolved tags) would silently change meaning; treat them as errors.
    problems.push({ ...pos(warning.pos[0]), message: `YAML: ${firstLine(warning.message)}` });
  }
  if (problems.length > 0) throw new InputError(`${file}: invalid YAML`, problems);

  return {
    file,
    text,
    value,
    locate: (path, at = 'value') => pos(offsetOf(doc, path, at)),
  };
}

/**
 * Offset of the first `[` or `{` that opens a flow collection deeper than MAX_YAML_DEPTH, by a
 * lexical scan that skips quoted scalars and comments (only used once the parser has given up).
 */
function deepFlowOffset(text: string): number | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c; i++) if (c === '"' && text[i] === '\\') i++;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '[' || c === '{') {
      if (++depth > MAX_YAML_DEPTH) return i;
    } else if (c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
    }
  }
  return null;
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /Maximum call stack size exceeded/.test(err.message);
}

/**
 * The first node nested deeper than MAX_YAML_DEPTH, or the first key that is a collection or an
 * alias (JS objects would stringify it, and the parser would print a Node warning). Iterative, so
 * that the check itself cannot overflow the stack.
 */
function shapeProblem(root: unknown): { kind: 'depth' | 'key' | 'alias-key'; offset: number } | null {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_YAML_DEPTH) return { kind: 'depth', offset: rangeStart(node) ?? 0 };
    for (const item of node.items) {
      if (isPair(item)) {
        if (isMap(item.key) || isSeq(item.key)) return { kind: 'key', offset: rangeStart(item.key) ?? rangeStart(node) ?? 0 };
        if (isAlias(item.key)) return { kind: 'alias-key', offset: rangeStart(item.key) ?? rangeStart(node) ?? 0 };
        stack.push({ node: item.value, depth: depth + 1 });
      } else {
        stack.push({ node: item, depth: depth + 1 });
      }
    }
  }
  return null;
}

/**
 * Height of a plain value (a scalar is 0), counting shared objects once, so it stays linear even
 * when aliases share subtrees; a value that contains itself (an alias to an ancestor) is infinite.
 */
function valueHeight(root: unknown): number {
  if (root === null || typeof root !== 'object') return 0;
  const height = new Map<object, number>();
  const inProgress = new Set<object>(); // exactly the ancestors of the node being expanded
  const stack: { v: object; expanded: boolean }[] = [{ v: root, expanded: false }];
  const children = (v: object): object[] => (Array.isArray(v) ? (v as unknown[]) : Object.values(v)).filter((c): c is object => c !== null && typeof c === 'object');
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (!top.expanded) {
      if (height.has(top.v)) {
        stack.pop();
        continue;
      }
      top.expanded = true;
      inProgress.add(top.v);
      for (const c of children(top.v)) {
        if (inProgress.has(c)) return Infinity;
        if (!height.has(c)) stack.push({ v: c, expanded: false });
      }
      continue;
    }
    stack.pop();
    inProgress.delete(top.v);
    const h = 1 + children(top.v).reduce((m, c) => Math.max(m, height.get(c) ?? 0), 0);
    if (h > MAX_YAML_DEPTH) return h;
    height.set(top.v, h);
  }
  return height.get(root) ?? 0;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** Offset of the node at `path` (the key of the last map segment when at === 'key'). */
function offsetOf(doc: Document, path: DataPath, at: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let best = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) return best;
      if (last && at === 'key') return rangeStart(pair.key) ?? best;
      node = pair.value;
      best = rangeStart(node) ?? rangeStart(pair.key) ?? best;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      best = rangeStart(node) ?? best;
    } else {
      return best;
    }
  }
  return best;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as YamlNode | undefined)?.range;
  return range ? range[0] : undefined;
}
