/**
 * How many scenario runs at once, and a memory budget so that runs are admitted by weight, not
 * only by count (kola's memory admission; nextest's threads-required).
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import type { Accel } from '../../vm/machine.js';
import { DEFAULT_CPUS, type RunPlan } from '../scenario/plan.js';

/** QEMU's own overhead per guest beyond the guest RAM (page tables, TCG translation cache, slirp). */
export const QEMU_OVERHEAD_MIB = 256;
/** Left for the host and the harness itself. */
export const HOST_RESERVE_MIB = 1024;

export function planMemoryMiB(plan: RunPlan): number {
  return plan.machines.reduce((sum, m) => sum + m.memoryMiB + QEMU_OVERHEAD_MIB, 0);
}

export function availableMemoryMiB(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Math.floor(Number(m[1]) / 1024);
  } catch {
    // not Linux: fall back to Node's view
  }
  return Math.floor(os.freemem() / 1024 / 1024);
}

/**
 * `--parallel auto`: as many runs as there are CPUs for their vCPUs (under TCG each vCPU is a busy
 * host thread) and memory for their guests, at least 1.
 */
export function autoParallel(plans: RunPlan[], cpus = os.availableParallelism(), memoryMiB = availableMemoryMiB()): number {
  if (plans.length === 0) return 1;
  const heaviestMem = Math.max(...plans.map(planMemoryMiB));
  const byMemory = Math.floor((memoryMiB - HOST_RESERVE_MIB) / heaviestMem);
  // Count host CPUs, not guest vCPUs: machines without an explicit `cpus` shrink to fit (machineVcpus).
  const byCpu = Math.max(1, cpus);
  return Math.max(1, Math.min(byMemory, byCpu, plans.length));
}

/**
 * vCPUs for a machine. An explicit `cpus` is used as given. Otherwise 2, except under TCG when the
 * runs that overlap would give the host more vCPUs than cores: each emulated vCPU is a busy host
 * thread, so extra vCPUs only add contention (and multi-threaded TCG's cross-vCPU synchronisation).
 * Measured on a 2-core host (README "Performance"): a smoke run keeps 1.43 cores busy with 2 vCPUs
 * and 1.02 with 1, so two overlapping 1-vCPU runs finish sooner than two 2-vCPU ones.
 */
export function machineVcpus(requested: number | null, accel: Accel, parallel: number, hostCpus = os.availableParallelism()): number {
  if (requested !== null) return requested;
  if (accel === 'kvm') return DEFAULT_CPUS;
  return Math.max(1, Math.min(DEFAULT_CPUS, Math.floor(hostCpus / Math.max(1, parallel))));
}

/**
 * How much slower than alone each guest will run because the runs that overlap want more vCPUs than
 * the host has cores (1 when they fit). Timeouts are stretched by it: a guest sharing a core with
 * another one needs twice as long for everything, its sshd's banner included, and connection
 * attempts cut short too early only load it further.
 */
export function oversubscription(plans: RunPlan[], accel: Accel, parallel: number, hostCpus = os.availableParallelism()): number {
  const vcpus = plans
    .map((p) => p.machines.reduce((sum, m) => sum + machineVcpus(m.cpus, accel, parallel, hostCpus), 0))
    .sort((a, b) => b - a)
    .slice(0, Math.max(1, parallel))
    .reduce((sum, n) => sum + n, 0);
  return Math.max(1, vcpus / Math.max(1, hostCpus));
}

/** A counting semaphore over MiB: a run starts only when its machines fit. */
export class MemoryBudget {
  private used = 0;
  private waiters: { need: number; resolve: () => void }[] = [];

  constructor(readonly totalMiB: number) {}

  async acquire(needMiB: number): Promise<() => void> {
    // A run larger than the whole budget still runs (alone) rather than never.
    const need = Math.min(needMiB, this.totalMiB);
    if (this.used + need > this.totalMiB || this.waiters.length > 0) {
      await new Promise<void>((resolve) => this.waiters.push({ need, resolve }));
    } else {
      this.used += need;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= need;
      this.wake();
    };
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.need <= this.totalMiB) {
      const w = this.waiters.shift()!;
      this.used += w.need;
      w.resolve();
    }
  }
}

/** `--shard i/n`, balanced by estimated duration (harness/run/shard.ts). */
export { shardPlans } from './shard.js';
