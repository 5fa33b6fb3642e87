/**
 * The assertion engine: an `expect` body against a HostState. Every check yields expected vs actual,
 * so a failure reads as a diff ("booted.image expected quay.io/x:v2, was quay.io/x:v1").
 */
import type { DeploymentView, HostState } from '../state/types.js';
import type { DeploymentExpectDef, ExpectBodyDef } from '../scenario/schema.js';
import { statusDisagreements } from './status-parity.js';

export interface CheckResult {
  /** What was checked, as a path: `booted.image`, `kargs.has`, `files.present /etc/x`. */
  check: string;
  expected: unknown;
  actual: unknown;
  ok: boolean;
  /** Extra words when expected/actual alone do not explain it. */
  detail?: string;
}

/** File presence is the one check that needs the guest; the caller supplies the answers. */
export type FileProbe = (paths: string[]) => Promise<Record<string, boolean>>;

export async function evaluateExpect(body: ExpectBodyDef, state: HostState, probeFiles: FileProbe): Promise<CheckResult[]> {
  const checks: CheckResult[] = [];
  for (const slot of ['booted', 'staged', 'rollback'] as const) {
    if (!(slot in body)) continue;
    const want = body[slot];
    const have = state[slot];
    if (want === null || want === undefined) {
      checks.push({ check: `${slot}`, expected: null, actual: have ? summarize(have) : null, ok: have === null, detail: have ? `there is a ${slot} deployment` : undefined });
      continue;
    }
    if (!have) {
      checks.push({ check: `${slot}`, expected: 'a deployment', actual: null, ok: false, detail: `there is no ${slot} deployment` });
      continue;
    }
    checks.push(...deploymentChecks(slot, want, have));
  }

  if (body.kargs) {
    for (const k of body.kargs.has ?? []) checks.push({ check: 'kargs.has', expected: k, actual: kargMatch(state.kargs, k) ?? '(absent)', ok: kargMatch(state.kargs, k) !== null });
    for (const k of body.kargs.lacks ?? []) {
      const found = kargMatch(state.kargs, k);
      checks.push({ check: 'kargs.lacks', expected: `no ${k}`, actual: found ?? '(absent)', ok: found === null });
    }
  }

  for (const [key, want] of Object.entries(body['os-release'] ?? {})) {
    const have = state.osRelease[key] ?? null;
    checks.push({ check: `os-release.${key}`, expected: want, actual: have, ok: have === want });
  }

  if (body.files) {
    const present = body.files.present ?? [];
    const absent = body.files.absent ?? [];
    const answers = await probeFiles([...present, ...absent]);
    for (const p of present) checks.push({ check: 'files.present', expected: p, actual: answers[p] ? 'present' : 'absent', ok: answers[p] === true });
    for (const p of absent) checks.push({ check: 'files.absent', expected: p, actual: answers[p] ? 'present' : 'absent', ok: answers[p] === false });
  }

  if (body.bootc) {
    const b = body.bootc;
    if (b.available !== undefined) checks.push({ check: 'bootc.available', expected: b.available, actual: state.bootc.available, ok: state.bootc.available === b.available });
    if (b.incompatible !== undefined) {
      const have = state.booted?.incompatible ?? null;
      checks.push({ check: 'bootc.incompatible', expected: b.incompatible, actual: have, ok: have === b.incompatible });
    }
    if (b.type !== undefined) {
      const have = state.bootc.status?.status?.type ?? null;
      checks.push({ check: 'bootc.type', expected: b.type, actual: have, ok: have === b.type, detail: state.bootc.available ? undefined : 'bootc is not available on this host' });
    }
  }

  if (body['status-agree'] !== undefined) {
    const disagreements = statusDisagreements(state);
    const agree = disagreements.length === 0;
    checks.push({
      check: 'status-agree',
      expected: body['status-agree'],
      actual: agree ? 'agree' : disagreements.join('; '),
      ok: agree === body['status-agree'],
    });
  }

  if (body.system !== undefined) {
    checks.push({
      check: 'system',
      expected: body.system,
      actual: state.systemState,
      ok: state.systemState === body.system,
      detail: state.failedUnits.length ? `failed units: ${state.failedUnits.join(', ')}` : undefined,
    });
  }
  return checks;
}

function deploymentChecks(slot: string, want: DeploymentExpectDef, have: DeploymentView): CheckResult[] {
  const out: CheckResult[] = [];
  const eq = (field: string, expected: unknown, actual: unknown) => out.push({ check: `${slot}.${field}`, expected, actual, ok: expected === actual });
  if (want.image !== undefined) eq('image', want.image, have.image);
  if (want.digest !== undefined) eq('digest', want.digest, have.digest);
  if (want.version !== undefined) eq('version', want.version, have.version);
  if (want.layered !== undefined) eq('layered', want.layered, have.layered);
  if (want.incompatible !== undefined) eq('incompatible', want.incompatible, have.incompatible);
  if (want.pinned !== undefined) eq('pinned', want.pinned, have.pinned);
  for (const p of want.packages ?? []) {
    out.push({ check: `${slot}.packages`, expected: p, actual: have.requestedPackages, ok: have.requestedPackages.includes(p) });
  }
  for (const p of want['lacks-packages'] ?? []) {
    out.push({ check: `${slot}.lacks-packages`, expected: `no ${p}`, actual: have.requestedPackages, ok: !have.requestedPackages.includes(p) });
  }
  return out;
}

/** `foo=1` matches exactly; `foo` matches `foo` or any `foo=…`. Returns the matching karg. */
export function kargMatch(kargs: readonly string[], wanted: string): string | null {
  if (wanted.includes('=')) return kargs.includes(wanted) ? wanted : null;
  return kargs.find((k) => k === wanted || k.startsWith(`${wanted}=`)) ?? null;
}

/** The fields of a deployment a reader needs in one line. */
export function summarize(d: DeploymentView): string {
  const parts = [d.image ?? `ostree ${d.checksum?.slice(0, 12) ?? '?'}`];
  if (d.version) parts.push(`version ${d.version}`);
  if (d.requestedPackages.length) parts.push(`packages ${d.requestedPackages.join(',')}`);
  if (d.incompatible) parts.push('incompatible');
  return parts.join(', ');
}

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** "booted.image expected quay.io/x:v2, was quay.io/x:v1" — one line per failed check. */
export function describeFailures(checks: CheckResult[]): string[] {
  return checks
    .filter((c) => !c.ok)
    .map((c) => `${c.check} expected ${formatValue(c.expected)}, was ${formatValue(c.actual)}${c.detail ? ` (${c.detail})` : ''}`);
}
