/**
 * A real OpenSSH server on 127.0.0.1 for integration tests: per-test host key and client key,
 * random free port, killed by pid (with every session process it forked) on stop().
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SshEndpoint } from '../../vm/machine.js';

const execFileP = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Every descendant pid of `pid`, deepest last (from /proc, so it also finds per-connection sshd children). */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised comm, which may itself contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process exited while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is dead for our purposes
  } catch {
    return false;
  }
}

/**
 * sshd runs commands through the user's login shell, and bash sources ~/.bashrc for commands that
 * come in over SSH. A developer's ~/.bashrc can do anything (pyenv's rehash takes a lock file, and a
 * test that kills a session mid-rc leaves that lock stale, hanging every later shell). So sshd runs
 * in a private mount namespace with an empty file bound over ~/.bashrc; where that is not allowed,
 * the mount fails quietly and sshd runs as is.
 */
function sshdCommand(configPath: string, emptyRc: string): [string, string[]] {
  const rc = path.join(os.homedir(), '.bashrc');
  let hasRc = false;
  try {
    hasRc = statSync(rc).isFile();
  } catch {
    hasRc = false;
  }
  if (!hasRc) return [SSHD, ['-D', '-e', '-f', configPath]];
  writeFileSync(emptyRc, '');
  const script = 'mount --bind "$1" "$2" 2>/dev/null; exec "$3" -D -e -f "$4"';
  // unshare execs sh, which execs sshd: the child's pid is sshd's pid.
  return ['unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', emptyRc, rc, SSHD, configPath]];
}

const live = new Set<SshdFixture>();
// Last line of defence: a crashed test run must not leave sshd listeners behind.
process.once('exit', () => {
  for (const f of live) f.killNow();
});

export interface SshdOptions {
  port?: number;
}

export class SshdFixture {
  readonly endpoint: SshEndpoint;
  readonly user = os.userInfo().username;
  /** Date.now() when the current sshd logged "Server listening" (i.e. accepts connections). */
  listeningAt: number | null = null;
  /** sshd's stderr, for test failure messages. */
  log = '';
  private child: ChildProcess | null = null;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly clientKeyPath: string,
    readonly clientPublicKey: string,
    readonly hostPublicKey: string,
    readonly configPath: string,
  ) {
    this.endpoint = { host: '127.0.0.1', port };
  }

  static async create(opts: SshdOptions = {}): Promise<SshdFixture> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-sshd-'));
    const port = opts.port ?? (await freePort());
    const hostKey = path.join(dir, 'host_ed25519');
    const clientKey = path.join(dir, 'client_ed25519');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bootpath-test-host', '-f', hostKey]);
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bootpath-test-client', '-f', clientKey]);
    const clientPublicKey = (await fs.readFile(`${clientKey}.pub`, 'utf8')).trim();
    const hostPublicKey = (await fs.readFile(`${hostKey}.pub`, 'utf8')).trim();
    await fs.writeFile(path.join(dir, 'authorized_keys'), clientPublicKey + '\n', { mode: 0o600 });
    // sshd refuses to start without its privilege separation directory (normally made by the unit).
    await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const configPath = path.join(dir, 'sshd_config');
    await fs.writeFile(
      configPath,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxStartups 50',
        'Subsystem sftp internal-sftp',
        'LogLevel INFO',
        '',
      ].join('\n'),
    );
    return new SshdFixture(dir, port, clientKey, clientPublicKey, hostPublicKey, configPath);
  }

  get running(): boolean {
    return this.child !== null;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Start (or restart) sshd on the same port; resolves once it listens. */
  async start(): Promise<void> {
    if (this.child) throw new Error('sshd fixture already running');
    this.listeningAt = null;
    const child = spawn(...sshdCommand(this.configPath, path.join(this.dir, 'empty-rc')), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    live.add(this);
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error(`sshd did not report listening within 10 s:\n${this.log}`)), 10_000);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        this.log += chunk;
        buffered += chunk;
        if (this.listeningAt === null && /Server listening on/.test(buffered)) {
          this.listeningAt = Date.now();
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        if (this.child === child) {
          this.child = null;
          live.delete(this);
        }
        if (this.listeningAt === null) reject(new Error(`sshd exited (${code ?? sig}) before listening:\n${this.log}`));
      });
    });
  }

  /** Kill the session processes (connections) sshd forked, leaving the listener up: a dropped connection. */
  killSessions(): void {
    if (!this.child?.pid) return;
    for (const pid of descendantsOf(this.child.pid)) killQuietly(pid);
  }

  /** Synchronous kill of listener and sessions (exit handler). */
  killNow(): void {
    const pid = this.child?.pid;
    if (!pid) return;
    const all = [...descendantsOf(pid), pid];
    for (const p of all) killQuietly(p);
  }

  /** Stop sshd like a machine going down: the listener and every connection it serves die. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    this.killNow();
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    live.delete(this);
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TCP listener that accepts and never says anything, like slirp's port forward while the guest
 * is down. close() stops it listening and destroys the sockets it holds.
 */
export class SilentListener {
  private readonly sockets = new Set<net.Socket>();
  private accepted = 0;
  private constructor(private readonly server: net.Server) {}

  static async listen(port: number): Promise<SilentListener> {
    const server = net.createServer();
    const l = new SilentListener(server);
    server.on('connection', (s) => {
      l.accepted++;
      l.sockets.add(s);
      // Read (and drop) what the client sends: a paused socket would never see the client's FIN,
      // and acceptedCount would keep counting attempts the client has long abandoned.
      s.resume();
      s.on('error', () => {});
      s.on('close', () => l.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return l;
  }

  /** Connections held open right now. */
  get acceptedCount(): number {
    return this.sockets.size;
  }

  /** Connections accepted since listen(), closed ones included. */
  get totalAccepted(): number {
    return this.accepted;
  }

  /**
   * Stop accepting but keep the held sockets hung, as slirp does. The listening handle closes at
   * once (the port is free for sshd); server.close's callback would wait for the held sockets.
   */
  async stopListening(): Promise<void> {
    if (this.server.listening) this.server.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await this.stopListening();
  }
}
