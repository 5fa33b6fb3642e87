/**
 * /proc/cmdline → karg tokens. Whitespace separates tokens except inside double quotes, as the
 * kernel parses it: `foo="a b" quiet` → [`foo="a b"`, `quiet`]. Tokens keep their quotes so that
 * they compare equal to what `rpm-ostree kargs --append` was given.
 */
export function parseCmdline(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inQuotes = false;
  for (const ch of text) {
    if (ch === '"') inQuotes = !inQuotes;
    if (!inQuotes && /\s/.test(ch)) {
      if (current) tokens.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  if (current) tokens.push(current);
  return tokens;
}

/** `foo="a b"` → { key: 'foo', value: 'a b' }; `quiet` → { key: 'quiet', value: null }. */
export function splitKarg(token: string): { key: string; value: string | null } {
  const eq = token.indexOf('=');
  if (eq < 0) return { key: token, value: null };
  let value = token.slice(eq + 1);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return { key: token.slice(0, eq), value };
}

/**
 * os-release(5): `KEY=value` lines; values may be in double or single quotes; inside double quotes
 * a backslash escapes `$ " \ \``; `#` lines are comments. Malformed lines are skipped.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    out[m[1]!] = unquoteShellValue(m[2]!);
  }
  return out;
}

function unquoteShellValue(v: string): string {
  let out = '';
  let i = 0;
  while (i < v.length) {
    const ch = v[i]!;
    if (ch === '"') {
      i++;
      while (i < v.length && v[i] !== '"') {
        if (v[i] === '\\' && i + 1 < v.length && '$"\\`'.includes(v[i + 1]!)) i++;
        out += v[i];
        i++;
      }
      i++; // closing quote
    } else if (ch === "'") {
      const end = v.indexOf("'", i + 1);
      const stop = end < 0 ? v.length : end;
      out += v.slice(i + 1, stop);
      i = stop + 1;
    } else if (ch === '\\' && i + 1 < v.length) {
      out += v[i + 1];
      i += 2;
    } else if (/\s/.test(ch) || ch === '#') {
      break; // unquoted whitespace ends the value; the rest is a comment or junk
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}
