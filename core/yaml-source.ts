/**
 * YAML with source positions. Every user file (scenarios, catalog entries, questions) is parsed
 * here so that every later problem can be reported as file:line:column.
 */
import { promises as fs } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { InputError, type LocatedProblem, type SourceLocation } from './errors.js';

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

export async function readYamlFile(file: string, displayName = file): Promise<YamlSource> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String((err as Error).message);
    throw new InputError(`${displayName}: cannot read: ${why}`, [{ file: displayName, line: 1, column: 1, message: `cannot read: ${why}` }]);
  }
  return parseYamlText(text, displayName);
}

/** Parse YAML text; syntax errors become an InputError listing every problem with its location. */
export function parseYamlText(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const pos = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { file, line, column: col };
  };
  const problems: LocatedProblem[] = [];
  // After the first syntax error the parser's later complaints are mostly echoes of it; one
  // precise message helps more than sixty.
  const syntax = doc.errors[0];
  if (syntax) {
    const at = pos(syntax.pos[0]);
    const line = text.split('\n')[at.line - 1] ?? '';
    const hint = line.includes('${{') && /[{[]/.test(line.replace(/\$\{\{[^}]*\}\}/g, ''))
      ? " (a value containing ${{ … }} inside { … } or [ … ] must be quoted: \"${{ matrix.x }}\")"
      : '';
    throw new InputError(`${file}: invalid YAML`, [{ ...at, message: `YAML: ${firstLine(syntax.message)}${hint}` }]);
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new InputError(`${file}: invalid YAML`, [{ ...pos(0), message: `YAML: ${firstLine((err as Error).message)}` }]);
  }
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
