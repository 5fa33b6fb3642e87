/**
 * A guest without a VM: FakeGuestSession implements GuestSession with scripted command results,
 * FakeGuest implements a run's view of a machine (PlanGuest, which includes the steps' StepGuest)
 * with scripted host states and reboot verdicts. Step kinds, executeStep, executePlan and runPlans
 * run against it in unit tests; what they sent to the guest is kept for the assertions.
 */
import { promises as fs } from 'node:fs';
import { ConnectionLostError } from '../../harness/guest/errors.js';
import { MachineFailure } from '../../vm/machine.js';
import { shJoin } from '../../harness/guest/quote.js';
import type { RebootResult, RebootVerdict } from '../../harness/guest/reboot.js';
import type { ExecOptions, ExecResult, GuestSession } from '../../harness/guest/session.js';
import type { HostState } from '../../harness/state/types.js';
import type { PlanGuest } from '../../harness/run/execute-plan.js';
import type { GuestExecOptions } from '../../harness/steps/types.js';

export interface ScriptedExec {
  /** Which command lines this answer is for: a pattern on the command as the guest shell sees it. */
  match: RegExp;
  exitCode?: number | null;
  stdout?: string;
  stderr?: string;
  timedOut?: boolean;
  /**
   * The connection drops instead of an answer, as when QEMU is killed under a running command; a
   * number: the machine is declared dead that many ms later (what MachineBase does on QEMU's exit).
   */
  connectionLost?: { machineDiesAfterMs: number | null };
}

export interface ExecCall {
  command: string;
  argv: readonly string[] | null;
  sudo: boolean;
  timeoutMs: number;
}

export class FakeGuestSession implements GuestSession {
  readonly endpoint = { host: '127.0.0.1' as const, port: 2222 };
  readonly user = 'core';
  readonly calls: ExecCall[] = [];
  /** Guest files: path → content; upload and download move real host files in and out. */
  readonly files = new Map<string, string>();
  private open = true;
  /** Set by FakeGuest: what a scripted machine death does. */
  onDeath: (() => void) | undefined;
  private resolveClosed!: (reason: ConnectionLostError | null) => void;
  readonly closed = new Promise<ConnectionLostError | null>((resolve) => (this.resolveClosed = resolve));

  /** Answers are tried in order; a command no answer matches exits 0 with no output. */
  constructor(readonly script: ScriptedExec[] = []) {}

  get isOpen(): boolean {
    return this.open;
  }

  exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    return this.answer(command, null, opts);
  }

  execArgv(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.answer(shJoin(argv), argv, opts);
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    this.files.set(remotePath, await fs.readFile(localPath, 'utf8'));
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const content = this.files.get(remotePath);
    if (content === undefined) throw new Error(`fake guest: no file ${remotePath}`);
    await fs.writeFile(localPath, content);
  }

  async close(): Promise<void> {
    this.open = false;
    this.resolveClosed(null);
  }

  private async answer(command: string, argv: readonly string[] | null, opts: ExecOptions): Promise<ExecResult> {
    if (opts.signal?.aborted) throw opts.signal.reason;
    this.calls.push({ command, argv, sudo: opts.sudo === true, timeoutMs: opts.timeoutMs });
    const a = this.script.find((s) => s.match.test(command));
    if (a?.connectionLost) {
      const after = a.connectionLost.machineDiesAfterMs;
      if (after !== null) setTimeout(() => this.onDeath?.(), after);
      throw new ConnectionLostError(`SSH connection to 127.0.0.1:2222 dropped while running \`${command}\``, command);
    }
    const result: ExecResult = {
      command,
      exitCode: a?.timedOut ? null : (a?.exitCode ?? 0),
      signal: null,
      stdout: a?.stdout ?? '',
      stderr: a?.stderr ?? '',
      durationMs: 1,
      timedOut: a?.timedOut === true,
    };
    if (result.stdout) opts.onStdout?.(result.stdout);
    if (result.stderr) opts.onStderr?.(result.stderr);
    return result;
  }
}

export interface FakeGuestOptions {
  script?: ScriptedExec[];
  /** States returned by successive reads; the last one repeats. */
  states: HostState[];
  /** Verdicts of successive reboots; default 'ok'. */
  reboots?: RebootVerdict[];
  /** Console text that waitForConsole searches. */
  console?: string;
}

/** The machine under a fake guest: boot count, resets and the console text. */
export class FakeMachine {
  bootCount = 1;
  resets = 0;
  private readonly failure = new AbortController();
  readonly failureSignal = this.failure.signal;

  constructor(private readonly consoleText: string) {}

  /** The machine dies as MachineBase reports it: failureSignal aborts with a MachineFailure. */
  die(how = 'QEMU (pid 4242) killed by signal SIGKILL'): void {
    this.failure.abort(new MachineFailure('died', `machine fake died: ${how} without a shutdown request`, '[  OK  ] Reached target multi-user.target'));
  }

  async reset(): Promise<void> {
    this.resets++;
  }

  async waitForConsole(re: RegExp): Promise<RegExpMatchArray> {
    const m = this.consoleText.match(re);
    if (!m) throw new Error(`fake guest: console never showed ${re}`);
    return m;
  }

  on(): () => void {
    return () => undefined;
  }
}

export class FakeGuest implements PlanGuest {
  readonly session0: FakeGuestSession;
  readonly plan: { name: string };
  readonly machine: FakeMachine;
  destroyed = false;
  knownHostsWritten = false;
  stateReads = 0;
  /** One entry per reboot: whether a trigger (the step's own command, or a reset) was given. */
  readonly rebootTriggers: boolean[] = [];

  constructor(private readonly opts: FakeGuestOptions & { name?: string }) {
    this.session0 = new FakeGuestSession(opts.script);
    this.plan = { name: opts.name ?? 'default' };
    this.machine = new FakeMachine(opts.console ?? '');
    this.session0.onDeath = () => this.machine.die();
  }

  get bootCount(): number {
    return this.machine.bootCount;
  }

  get resets(): number {
    return this.machine.resets;
  }

  exec(argv: readonly string[], o: GuestExecOptions): Promise<ExecResult> {
    return this.session0.execArgv(argv, o);
  }

  execShell(command: string, o: GuestExecOptions): Promise<ExecResult> {
    return this.session0.exec(command, o);
  }

  async session(): Promise<GuestSession> {
    return this.session0;
  }

  async reboot(_signal: AbortSignal, trigger?: (s: GuestSession) => Promise<unknown>): Promise<RebootResult> {
    this.rebootTriggers.push(trigger !== undefined);
    if (trigger) await trigger(this.session0);
    const verdict = this.opts.reboots?.[this.rebootTriggers.length - 1] ?? 'ok';
    const back = verdict === 'ok' || verdict === 'came-back-degraded';
    if (back) this.machine.bootCount++;
    return {
      verdict,
      message: back ? `boot ${this.bootCount} is up` : `fake reboot: ${verdict}`,
      oldBootId: `boot-${this.bootCount - (back ? 1 : 0)}`,
      newBootId: back ? `boot-${this.bootCount}` : null,
      systemState: back ? (verdict === 'ok' ? 'running' : 'degraded') : null,
      failedUnits: [],
      phases: { downMs: 1, upMs: 2, settleMs: 1, totalMs: 4 },
      timestamps: { triggeredAt: 0, downAt: 1, upAt: 2, settledAt: 3 },
      triggerError: null,
      consoleTail: null,
      session: back ? this.session0 : null,
    };
  }

  async writeKnownHosts(): Promise<void> {
    this.knownHostsWritten = true;
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.session0.close();
  }

  async readState(): Promise<HostState> {
    const states = this.opts.states;
    const state = states[Math.min(this.stateReads, states.length - 1)];
    if (!state) throw new Error('fake guest: no states scripted');
    this.stateReads++;
    return state;
  }
}
