/**
 * Nominal (KVM) timeouts, scaled for the accelerator in use. Under TCG everything in the guest is
 * several times slower (vm/accel.ts measures and documents the factor).
 */
import type { PlannedStep } from '../scenario/plan.js';
import { kindModule, type StepKind } from '../steps/registry.js';

export interface Timeouts {
  /** QEMU start (or reboot trigger) → SSH answers. */
  bootMs: number;
  /** After a reboot trigger, how long the old boot may keep answering. */
  goDownMs: number;
  /** systemd settling after boot. */
  settleMs: number;
  /** Re-opening a dropped SSH connection to a running guest. */
  reconnectMs: number;
  /** A state read or a small guest command. */
  commandMs: number;
  /** rpm-ostree / bootc operations (they deploy: tens of seconds under TCG). */
  osOperationMs: number;
  /** How long one SSH attempt may wait for the server's banner. */
  sshBannerMs: number;
}

const NOMINAL: Timeouts = {
  bootMs: 60_000,
  goDownMs: 30_000,
  settleMs: 30_000,
  reconnectMs: 20_000,
  commandMs: 20_000,
  osOperationMs: 120_000,
  sshBannerMs: 2_000,
};

export function scaledTimeouts(scale: number): Timeouts {
  const out = { ...NOMINAL };
  for (const key of Object.keys(out) as (keyof Timeouts)[]) out[key] = Math.round(NOMINAL[key] * scale);
  return out;
}

/** A step's own timeout (as written: it is the author's wall-clock budget), or the kind's default. */
export function stepTimeoutMs(step: PlannedStep, t: Timeouts): number {
  return step.timeoutMs ?? kindDefault(step, t);
}

function kindDefault<K extends StepKind>(step: PlannedStep<K>, t: Timeouts): number {
  return kindModule<K>(step.kind).defaultTimeoutMs(t, step.def);
}
