/**
 * One scenario machine as the steps see it: a vm/ Machine plus the SSH identity the harness uses
 * to reach it (per-run client key, pinned per-machine host key) and the current guest session.
 * Steps never touch QEMU or ssh2 directly.
 */
import path from 'node:path';
import type { ResolvedImage } from '../../images/resolve.js';
import { BACKENDS, type BackendName } from '../../vm/backends.js';
import type { Accel, Machine } from '../../vm/machine.js';
import { checkProvisioning, provisioningFor } from '../../vm/provision/for-image.js';
import type { RunSecrets } from '../../vm/run-secrets.js';
import { generateKeyPair, type GeneratedKeyPair } from '../../vm/ssh-keys.js';
import { promises as fs } from 'node:fs';
import { connectGuest } from './connect.js';
import { rebootGuest, type RebootResult } from './reboot.js';
import type { ExecOptions, ExecResult, GuestSession } from './session.js';
import { readHostState } from '../state/read.js';
import type { HostState } from '../state/types.js';
import type { SizedMachinePlan } from '../scenario/plan.js';
import type { Timeouts } from '../run/timeouts.js';
import { escapeRegExp } from '../../core/regexp.js';

export interface GuestMachineOptions {
  plan: SizedMachinePlan;
  image: ResolvedImage;
  /** The run's client key pair (shared by the run's machines, never by two runs). */
  clientKey: GeneratedKeyPair;
  /** This machine's own directory under the run's results. */
  dir: string;
  /** The run's private directory: the host key and provisioning files go there, never to results. */
  secrets: RunSecrets;
  accel: Accel;
  backend: BackendName;
  timeouts: Timeouts;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** Consecutive key refusals after sshd said it is up before a connect gives up (one could be a race). */
const AUTH_REJECTIONS_AFTER_READY = 3;

export class GuestMachine {
  private current: GuestSession | null = null;

  private constructor(
    readonly plan: SizedMachinePlan,
    readonly machine: Machine,
    readonly user: string,
    private readonly clientKey: GeneratedKeyPair,
    readonly hostKey: GeneratedKeyPair,
    private readonly timeouts: Timeouts,
    private readonly log: (line: string) => void,
  ) {}

  /** Create and boot the machine, then wait until SSH answers with the pinned host key. */
  static async start(opts: GuestMachineOptions): Promise<GuestMachine> {
    const { plan, image } = opts;
    const entry = plan.image.entry;
    await fs.mkdir(opts.dir, { recursive: true });
    // A fresh host key per machine, injected at provisioning and pinned: no trust-on-first-use.
    // Private material stays in the run's state dir (0700), deleted when the run ends.
    const secretDir = await opts.secrets.machineDir(plan.name);
    const hostKey = await generateKeyPair(secretDir, 'ssh_host_ed25519_key', `bootpath-host-${plan.name}`);
    const hostKeyMaterial = {
      privateKey: await fs.readFile(hostKey.privateKeyPath, 'utf8'),
      publicKey: hostKey.publicKey,
    };
    const provisioning = provisioningFor(
      entry,
      { machineName: plan.name, authorizedKey: opts.clientKey.publicKey, hostKey: hostKeyMaterial },
      { transitionSafeLogin: plan.transitionSafeLogin },
    );
    // The key file is only needed to build the provisioning, which now holds the only copy.
    await fs.rm(hostKey.privateKeyPath, { force: true });
    const check = await checkProvisioning(provisioning, `machine ${plan.name} (image ${entry.name})`);
    if (check.status === 'skipped') opts.log(`notice: ${check.notice}`);

    const machine = BACKENDS[opts.backend].create(
      {
        name: plan.name,
        runDir: opts.dir,
        diskDir: await opts.secrets.machineDisksDir(path.dirname(opts.dir), plan.name),
        baseDisk: { path: image.diskPath, format: image.format },
        diskSizeGiB: plan.diskMiB ? Math.ceil(plan.diskMiB / 1024) : undefined,
        firmware: image.firmware,
        memoryMiB: plan.memoryMiB,
        cpus: plan.cpus,
        accel: opts.accel,
        provisioning,
        provisionDir: secretDir,
        restartOnGuestReset: true,
      },
      {},
    );
    const guest = new GuestMachine(plan, machine, entry.user, opts.clientKey, hostKey, opts.timeouts, opts.log);
    try {
      await machine.start();
      await guest.connect(opts.timeouts.bootMs, opts.signal);
    } catch (err) {
      await guest.destroy(false);
      throw err;
    }
    return guest;
  }

  get failureSignal(): AbortSignal {
    return this.machine.failureSignal;
  }

  /** A signal that aborts when the machine fails or the scenario is cancelled. */
  combined(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, this.machine.failureSignal]);
  }

  private async connect(timeoutMs: number, signal: AbortSignal): Promise<GuestSession> {
    const deadline = Date.now() + timeoutMs;
    try {
      this.current = await this.openSession(deadline, signal);
    } catch (err) {
      throw this.withConsole(err, `SSH to ${this.plan.name} did not come up within ${Math.round(timeoutMs / 1000)} s`);
    }
    return this.current;
  }

  /**
   * Connect, retrying until the deadline. `sinceBoot`: the boot whose console may carry the image's
   * "sshd is up" line (default the current one; after a reboot trigger, the next one — the old
   * boot's console already has it).
   */
  private async openSession(deadlineMs: number, signal: AbortSignal, sinceBoot?: number): Promise<GuestSession> {
    const readyLine = this.plan.image.entry['ssh-ready-console'];
    const stopWaiting = new AbortController();
    // Resolves when the line is there; a wait that ends otherwise (deadline, machine gone, the
    // connection won first) rejects, which connectGuest reads as "no hint": sparse attempts go on.
    const readyHint = readyLine
      ? this.machine
          .waitForConsole(new RegExp(escapeRegExp(readyLine), 'u'), {
            timeoutMs: Math.max(0, deadlineMs - Date.now()),
            sinceBoot,
            signal: AbortSignal.any([stopWaiting.signal, this.combined(signal)]),
          })
      : undefined;
    try {
      return await this.connectWith(deadlineMs, signal, readyHint);
    } finally {
      stopWaiting.abort();
    }
  }

  private connectWith(deadlineMs: number, signal: AbortSignal, readyHint: Promise<unknown> | undefined): Promise<GuestSession> {
    return connectGuest({
      readyHint,
      // Ignition and credentials put the keys in place before sshd starts: once the console says sshd
      // is up, refusals of the run's key mean the login is gone (e.g. after a move to a bootc image).
      ...(readyHint ? { authRejectionsAfterReady: AUTH_REJECTIONS_AFTER_READY } : {}),
      endpoint: () => this.machine.sshEndpoint,
      user: this.user,
      privateKeyPath: this.clientKey.privateKeyPath,
      hostPublicKey: this.hostKey.publicKey,
      deadlineMs,
      signal: this.combined(signal),
      log: this.log,
      // A guest's sshd forks and re-executes per connection; under TCG the banner can take seconds.
      // Superseding silent attempts sooner (a quarter of the banner timeout) was measured to starve
      // a loaded guest's sshd (MaxStartups drops connections while abandoned children linger) so
      // that a fully booted guest never answered; half is what the CI scenario set ran green with.
      bannerTimeoutMs: this.timeouts.sshBannerMs,
      minSilentAgeMs: this.timeouts.sshBannerMs / 2,
      // ssh2's readyTimeout runs from the TCP connect through key exchange and auth. It grows with
      // the banner wait (oversubscribed hosts: a fixed 10 s cut off guests that had already sent
      // their banner) but no further: at three times the banner wait, reboots took 137–201 s to
      // SSH instead of 83–90 s (README "Performance"), because an attempt that hears a banner and
      // then stalls blocks new attempts until it ends.
      handshakeTimeoutMs: Math.max(10_000, this.timeouts.sshBannerMs),
    });
  }

  /** The open session, reconnecting once if the previous one dropped (e.g. after a guest-side restart). */
  async session(signal: AbortSignal): Promise<GuestSession> {
    if (this.current?.isOpen) return this.current;
    return this.connect(this.timeouts.reconnectMs, signal);
  }

  async exec(argv: readonly string[], opts: Omit<ExecOptions, 'signal'> & { signal: AbortSignal }): Promise<ExecResult> {
    const session = await this.session(opts.signal);
    return session.execArgv(argv, { ...opts, signal: this.combined(opts.signal) });
  }

  async execShell(command: string, opts: Omit<ExecOptions, 'signal'> & { signal: AbortSignal }): Promise<ExecResult> {
    const session = await this.session(opts.signal);
    return session.exec(command, { ...opts, signal: this.combined(opts.signal) });
  }

  /** Reboot (by `systemctl reboot`, or by the given command that reboots the guest itself). */
  async reboot(signal: AbortSignal, trigger?: (s: GuestSession) => Promise<unknown>): Promise<RebootResult> {
    const session = await this.session(signal);
    // Every boot is a new QEMU process (or libvirt domain) with its own console: the next one's.
    const nextBoot = this.machine.bootCount + 1;
    const result = await rebootGuest({
      session,
      reconnect: (deadlineMs) => this.openSession(deadlineMs, signal, nextBoot),
      trigger,
      timeouts: { goDownMs: this.timeouts.goDownMs, comeBackMs: this.timeouts.bootMs, settleMs: this.timeouts.settleMs },
      signal: this.combined(signal),
      consoleTail: () => this.machine.consoleTail(30),
      log: this.log,
    });
    if (result.session) this.current = result.session;
    return result;
  }

  async readState(signal: AbortSignal): Promise<HostState> {
    const session = await this.session(signal);
    return readHostState(session, { timeoutMs: this.timeouts.commandMs, signal: this.combined(signal) });
  }

  /** The exact command a person can paste to get into the kept machine. */
  sshCommand(): string {
    const ep = this.machine.sshEndpoint;
    const knownHosts = path.join(path.dirname(this.hostKey.publicKeyPath), 'known_hosts');
    return `ssh -i ${this.clientKey.privateKeyPath} -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -p ${ep?.port ?? '?'} ${this.user}@127.0.0.1`;
  }

  /** Write a known_hosts file for sshCommand(): the pinned key for [127.0.0.1]:port. */
  async writeKnownHosts(): Promise<void> {
    const ep = this.machine.sshEndpoint;
    if (!ep) return;
    const file = path.join(path.dirname(this.hostKey.publicKeyPath), 'known_hosts');
    await fs.writeFile(file, `[127.0.0.1]:${ep.port} ${this.hostKey.publicKey}\n`, { mode: 0o600 });
  }

  async destroy(keepFiles: boolean): Promise<void> {
    await this.current?.close().catch(() => undefined);
    this.current = null;
    await this.machine.destroy({ keepFiles });
  }

  private withConsole(err: unknown, what: string): Error {
    const message = err instanceof Error ? err.message : String(err);
    const tail = this.machine.consoleTail(20);
    const e = new Error(`${what}: ${message}${tail ? `\nlast console lines:\n${tail}` : ''}`);
    (e as Error & { cause?: unknown }).cause = err;
    return e;
  }
}
