import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';

/** Result of a finished helper command (qemu-img, ssh-keygen, xorriso…). */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a program with an argv array (never a shell) and collect its output. Rejects only when the
 * program cannot be started (ENOENT…); a non-zero exit is returned so callers can word the error.
 */
export function runCommand(file: string, args: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    // No input: stdin is /dev/null, so a program that exits without reading it cannot make the
    // write fail with EPIPE (an uncaught stream error).
    const child = spawn(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (child.stdin) {
      // A program may exit before reading all of its input; its exit status says what happened.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Like runCommand, but a non-zero exit throws an Error naming the command and quoting stderr. */
export async function runChecked(file: string, args: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
  const res = await runCommand(file, args, opts);
  if (res.code !== 0) {
    const status = res.signal ? `signal ${res.signal}` : `exit code ${String(res.code)}`;
    throw new Error(`${file} ${args.join(' ')} failed (${status}): ${res.stderr.trim() || res.stdout.trim() || 'no output'}`);
  }
  return res;
}

/** Absolute path of `name` on PATH, or null. */
export async function whichBinary(name: string): Promise<string | null> {
  const dirs = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = `${dir}/${name}`;
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}
