/**
 * POSIX shell quoting for commands sent to the guest. Scenario values reach the guest only through
 * these functions, never by string concatenation: a value is one argument, whatever it contains.
 */

/** Characters that never need quoting in any POSIX shell word. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one argument for a POSIX shell: `it's` → `'it'\''s'`. NUL cannot be passed to exec at all. */
export function shQuote(value: string): string {
  if (value.includes('\0')) {
    throw new TypeError(`cannot pass a NUL byte to the guest shell (in ${JSON.stringify(value)})`);
  }
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quote every element and join with spaces: the shell splits it back into exactly `argv`. */
export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('cannot run an empty argv in the guest');
  return argv.map(shQuote).join(' ');
}

/**
 * The inverse of shJoin for its own output (bare words, single-quoted words, `'\''`): results keep
 * command lines as display strings, and readers that need the argv back (which stand-in behaviour
 * a command exercised) split them here. null for anything shJoin would not have produced.
 */
export function shSplitJoined(line: string): string[] | null {
  const argv: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let word = '';
    while (i < line.length && line[i] !== ' ') {
      if (line[i] === "'") {
        const end = line.indexOf("'", i + 1);
        if (end === -1) return null;
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (line.startsWith("\\'", i)) {
        word += "'";
        i += 2;
      } else {
        word += line[i];
        i++;
      }
    }
    argv.push(word);
  }
  return argv;
}

/** Milliseconds → a duration for coreutils `timeout` (fractional seconds are accepted). */
export function timeoutDuration(ms: number): string {
  return `${Math.max(0.001, ms / 1000).toFixed(3)}s`;
}

export interface WrapOptions {
  /** Run through `sudo -n --` (non-interactive: fails instead of prompting for a password). */
  sudo?: boolean;
  /**
   * Guest-side time limit. The command runs under coreutils `timeout`, which puts it in its own
   * process group and signals the whole group, so children of the command die with it.
   */
  timeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL in the guest. */
  killAfterMs?: number;
  /** Shell that interprets `command` (default `sh`). */
  shell?: string;
}

/**
 * The exact string handed to sshd for `command`. sudo goes outside `timeout` so that `timeout`
 * itself runs as root and can kill a root-owned command (sudo with use_pty would otherwise put
 * the command in a session of its own, out of reach of a group kill).
 */
export function wrapGuestCommand(command: string, opts: WrapOptions = {}): string {
  const argv: string[] = [];
  if (opts.sudo) argv.push('sudo', '-n', '--');
  if (opts.timeoutMs !== undefined) {
    argv.push('timeout', `--kill-after=${timeoutDuration(opts.killAfterMs ?? 2000)}`, timeoutDuration(opts.timeoutMs));
  }
  argv.push(opts.shell ?? 'sh', '-c', command);
  return shJoin(argv);
}
