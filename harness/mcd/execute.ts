/**
 * Runs an expanded Plan the way the daemon would: items in order, each command judged by its
 * Check, the first daemon error ending the sequence, the deferred error handling and cleanups
 * after it. The guest is behind `PlanRunner`, so the step kind runs this over SSH and the unit
 * tests run it against scripted answers.
 *
 * "Not possible" is kept apart from "failed": a tool that is not on the host (exit 127) or a stand-in
 * that says it does not model a call is no evidence about the call. For the daemon it is still an
 * error (the sequence stops there), but the record, and the Q1 table built from it, say why.
 */
import { shJoin } from '../guest/quote.js';
import type { Static } from '@sinclair/typebox';
import type { McdItemRecordSchema } from '../results/format.js';
import { evaluateCheck, type CommandResult } from './checks.js';
import type { GoTypes } from './daemon-view.js';
import { nicKargsCommand } from './expand.js';
import type { CommandItem, Plan, PlanItem, Retry } from './plan.js';

export type ItemRecord = Static<typeof McdItemRecordSchema>;
type Part = ItemRecord['part'];

export interface RanCommand extends CommandResult {
  /** -1 when the command was killed (timeout, signal) and has no exit code. */
  exitCode: number;
  durationMs: number;
  timedOut: boolean;
}

export interface PlanRunner {
  /** Run argv on the host as root (the daemon runs as root). */
  run(argv: readonly string[]): Promise<RanCommand>;
  sleep(ms: number): Promise<void>;
  /** The host is the testbed: a stand-in's "not supported by the bootpath testbed" is a not-possible. */
  testbed: boolean;
  /** Retry delays as a fraction of the daemon's backoff (1 = the daemon's own timing). */
  backoffScale: number;
  goTypes: GoTypes;
}

export type PlanEnd = 'completed' | 'reboot-requested' | 'daemon-error' | 'not-possible';

export interface PlanOutcome {
  outcome: PlanEnd;
  error?: string;
  items: ItemRecord[];
}

/** Where a sub-sequence stopped, if it did. */
type Stop = { kind: 'failed' | 'not-possible'; message: string } | { kind: 'reboot' | 'return'; message: string } | null;

const TESTBED_REFUSAL = /not supported by the bootpath testbed/u;
const STDERR_CHARS = 500;

/** The delay before try n+1 (k8s wait.Backoff.Step: duration × factor^n, capped). */
export function backoffDelayMs(retry: Retry, n: number, scale: number): number {
  return Math.min(retry.initialSeconds * retry.factor ** n, retry.capSeconds) * 1000 * scale;
}

export async function executePlan(plan: Plan, runner: PlanRunner): Promise<PlanOutcome> {
  const records: ItemRecord[] = [];
  const ex = new Executor(runner, records);
  let stop: Stop = null;
  let stoppedAt = -1;
  for (const [i, item] of plan.items.entries()) {
    if (stop) {
      ex.skip(item, 'sequence', undefined, stop.kind === 'reboot' ? 'after the reboot' : stop.kind === 'return' ? 'the daemon returned early' : stop.kind === 'not-possible' ? `not possible before it: ${stop.message}` : 'the daemon stopped at its error', stop.kind === 'not-possible');
      continue;
    }
    stop = await ex.item(item, 'sequence');
    if (stop) stoppedAt = i;
  }
  const failed = stop?.kind === 'failed' || stop?.kind === 'not-possible';
  if (failed && plan.onError && stoppedAt >= plan.onError.from) {
    for (const item of plan.onError.items) {
      // The rollback's own failure is logged by the daemon next to the original error.
      await ex.item(item, 'on-error');
    }
  }
  for (const item of plan.finally) await ex.item(item, 'finally');
  switch (stop?.kind) {
    case undefined:
    case 'return':
      return { outcome: 'completed', items: records };
    case 'reboot':
      return { outcome: 'reboot-requested', items: records };
    case 'failed':
    case 'not-possible':
      return { outcome: stop.kind === 'failed' ? 'daemon-error' : 'not-possible', error: stop.message, items: records };
  }
}

class Executor {
  constructor(
    private readonly runner: PlanRunner,
    private readonly records: ItemRecord[],
  ) {}

  private push(r: ItemRecord): ItemRecord {
    this.records.push(r);
    return r;
  }

  skip(item: PlanItem, part: Part, parent: string | undefined, why: string, blockedHere = false): void {
    this.push({
      id: item.id,
      kind: item.kind,
      part,
      ...(parent ? { parent } : {}),
      call: 'call' in item ? item.call : null,
      ...('argv' in item ? { command: shJoin(item.argv) } : {}),
      follows: item.follows,
      status: 'skipped',
      message: `not reached: ${why}`,
      ...(blockedHere ? { blockedHere: true } : {}),
    });
  }

  async item(item: PlanItem, part: Part, parent?: string): Promise<Stop> {
    const base = { id: item.id, kind: item.kind, part, ...(parent ? { parent } : {}), follows: item.follows };
    switch (item.kind) {
      case 'command':
        return this.command(item, part, parent);
      case 'note':
        this.push({ ...base, call: null, status: 'noted', message: item.text });
        return null;
      case 'daemon-error':
        this.push({ ...base, call: null, status: 'failed', message: item.message });
        return { kind: 'failed', message: item.message };
      case 'reboot':
        this.push({ ...base, call: null, status: 'noted', message: `the daemon reboots the node here (${item.reason}); the scenario's next step reboots it` });
        return { kind: 'reboot', message: item.reason };
      case 'group': {
        const stop = await this.sequence(item.items, part, item.id);
        // runBootloaderUpdate's error is only logged: the group warns and the plan goes on.
        this.push({ ...base, call: null, status: stop ? 'warned' : 'ok', message: stop ? `${item.label}: ${stop.message}` : item.label });
        return null;
      }
      case 'write-file': {
        const argv = ['sh', '-c', 'mkdir -p -- "$(dirname -- "$1")" && printf %s "$2" > "$1"', 'sh', item.path, item.content];
        return this.plain(base, argv, `write ${item.path}`, 'fail');
      }
      case 'remove-file':
        // Deferred os.Remove/RemoveAll: the daemon logs a failure and carries on.
        return this.plain(base, ['rm', item.recursive ? '-rf' : '-f', '--', item.path], `remove ${item.path}`, 'ignore');
      case 'nic-kargs': {
        const read = await this.runner.run(['cat', '--', item.file]);
        if (read.exitCode !== 0) {
          const message = `reading ${item.file}: exit ${read.exitCode}: ${firstLine(read.stderr)}`;
          this.push({ ...base, call: item.call, command: shJoin(['cat', '--', item.file]), status: 'failed', exitCode: read.exitCode, durationMs: read.durationMs, message });
          return { kind: 'failed', message };
        }
        const cmd = nicKargsCommand(item, read.stdout);
        if (!cmd) {
          this.push({ ...base, call: null, status: 'noted', message: `${item.file} is empty: no kargs to ${item.flag === '--append' ? 'append' : 'remove'}` });
          return null;
        }
        return this.command(cmd, part, parent);
      }
      case 'package-sets': {
        for (const [n, set] of item.sets.entries()) {
          const stop = await this.sequence(set, part, item.id);
          if (!stop) {
            this.push({ ...base, call: null, status: 'ok', message: `extension ${item.extension}: package set ${n + 1} of ${item.sets.length} is installed` });
            return null;
          }
          if (stop.kind === 'not-possible') {
            this.push({ ...base, call: null, status: 'not-possible', message: `extension ${item.extension}: ${stop.message}` });
            return stop;
          }
        }
        const message = `extension "${item.extension}" verification failed: no valid package set is fully installed`;
        this.push({ ...base, call: null, status: 'failed', message });
        return { kind: 'failed', message };
      }
    }
  }

  private async sequence(items: readonly PlanItem[], part: Part, parent: string): Promise<Stop> {
    let stop: Stop = null;
    for (const item of items) {
      if (stop) this.skip(item, part, parent, stop.message, stop.kind === 'not-possible');
      else stop = await this.item(item, part, parent);
    }
    return stop;
  }

  /** A file operation: not a daemon command, judged by exit status only. */
  private async plain(base: Omit<ItemRecord, 'call' | 'status' | 'message'>, argv: string[], what: string, onFailure: 'fail' | 'ignore'): Promise<Stop> {
    const r = await this.runner.run(argv);
    const ok = r.exitCode === 0;
    const message = ok ? what : `${what}: exit ${r.exitCode}: ${firstLine(r.stderr)}`;
    this.push({ ...base, call: null, command: argv[0] === 'sh' ? what : shJoin(argv), status: ok ? 'ok' : onFailure === 'fail' ? 'failed' : 'ignored', exitCode: r.exitCode, durationMs: r.durationMs, message, ...stderr(r) });
    return ok || onFailure === 'ignore' ? null : { kind: 'failed', message };
  }

  private async command(item: CommandItem, part: Part, parent?: string): Promise<Stop> {
    const command = shJoin(item.argv);
    let attempts = 0;
    let r: RanCommand;
    let verdict: ReturnType<typeof evaluateCheck>;
    let notPossible: string | null;
    for (;;) {
      r = await this.runner.run(item.argv);
      attempts++;
      notPossible = this.notPossible(r, item.argv);
      verdict = r.timedOut ? { verdict: 'fail', message: `timed out after ${r.durationMs} ms` } : evaluateCheck(item.check, r, this.runner.goTypes);
      if (verdict.verdict !== 'fail' || notPossible || !item.retry || attempts >= item.retry.steps) break;
      await this.runner.sleep(backoffDelayMs(item.retry, attempts - 1, this.runner.backoffScale));
    }
    const returns = verdict.verdict === 'fail' && item.onFailure === 'return';
    const status: ItemRecord['status'] = notPossible ? 'not-possible' : verdict.verdict === 'pass' ? 'ok' : verdict.verdict === 'ignored' || returns ? 'ignored' : 'failed';
    const message = (notPossible ?? verdict.message) + (returns ? '; the daemon ignores this error and returns' : '');
    this.push({
      id: item.id,
      kind: 'command',
      part,
      ...(parent ? { parent } : {}),
      call: item.call,
      command,
      follows: item.follows,
      status,
      exitCode: r.exitCode,
      durationMs: r.durationMs,
      ...(item.retry ? { attempts } : {}),
      message: item.otherwise && verdict.verdict === 'fail' ? `${message}; the daemon falls back` : message,
      ...stderr(r),
    });
    if (verdict.verdict !== 'fail') return null;
    if (returns) return { kind: 'return', message };
    if (item.otherwise) return this.sequence(item.otherwise, part, item.id);
    return { kind: notPossible ? 'not-possible' : 'failed', message: `${command}: ${message}` };
  }

  private notPossible(r: RanCommand, argv: readonly string[]): string | null {
    if (r.exitCode === 127) return `${argv[0]} is not on this host (exit 127)`;
    // systemd-run resolves the unit's executable before it starts anything.
    const missing = /Failed to find executable (\S+): No such file or directory/u.exec(r.stderr);
    if (argv[0] === 'systemd-run' && missing) return `${missing[1]} is not on this host (systemd-run: ${missing[0]})`;
    if (this.runner.testbed && r.exitCode !== 0 && TESTBED_REFUSAL.test(r.stderr)) return `the testbed stand-in does not model this: ${firstLine(r.stderr)}`;
    return null;
  }
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

function stderr(r: RanCommand): { stderrExcerpt?: string } {
  const t = r.stderr.trim();
  return t ? { stderrExcerpt: t.length > STDERR_CHARS ? `${t.slice(0, STDERR_CHARS)}…` : t } : {};
}
