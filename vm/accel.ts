import { spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostNotCapableError } from '../core/errors.js';
import type { Accel } from './machine.js';
import { registerLiveProcess } from './reaper.js';

/**
 * Decide between KVM and TCG by proof, not by the presence of /dev/kvm.
 *
 * Why a real probe: on nested-virt hosts /dev/kvm can exist and a trivial guest even runs, yet real
 * kernels crawl (on the machine this was written on, KVM guests run roughly 50× slower than TCG:
 * SeaBIOS takes ~4.5 s and a Linux kernel never gets past decompression). So the probe boots a
 * 512-byte boot sector that walks real mode → protected mode → long mode, then does a small
 * memory+CPU workload (fill 32 MiB, 50M loop iterations: ~0.4 s under TCG, milliseconds under
 * healthy KVM) and only then prints BOOTPATH-KVM-OK on COM1. KVM is used only when that marker
 * arrives within the deadline; the verdict says which stage the probe reached otherwise.
 */

/** How much longer waits should be under each accelerator (multiply nominal KVM timeouts). */
export const TIMEOUT_SCALE: Record<Accel, number> = {
  kvm: 1,
  // The testbed image reaches sshd in ~25 s under TCG (testbed spike) versus ~5 s under KVM;
  // the tiny test guest shows the same ~5× ratio. BOOTPATH_TCG_TIMEOUT_SCALE overrides it.
  tcg: 5,
};

export function timeoutScaleFor(accel: Accel, env: NodeJS.ProcessEnv = process.env): number {
  if (accel === 'tcg' && env.BOOTPATH_TCG_TIMEOUT_SCALE) {
    const v = Number(env.BOOTPATH_TCG_TIMEOUT_SCALE);
    if (Number.isFinite(v) && v > 0) return v;
  }
  return TIMEOUT_SCALE[accel];
}

export interface KvmProbeResult {
  ok: boolean;
  durationMs: number;
  /** Last marker line the probe guest printed ('none' when it never reached the boot sector). */
  stageReached: string;
  /** What went wrong, quoting QEMU's stderr or the stage reached. */
  detail: string;
}

export interface AccelVerdict {
  accel: Accel;
  reason: string;
  /** Multiply nominal (KVM) timeouts by this. */
  timeoutScale: number;
  probe?: KvmProbeResult;
}

export interface ResolveAccelOptions {
  qemuBinary?: string;
  /** Deadline for the probe guest to print its OK marker. */
  probeTimeoutMs?: number;
  /** Where /dev/kvm is (tests point it elsewhere). */
  kvmDevice?: string;
}

/**
 * The probe boot sector, assembled from vm/kvm-probe.S with
 * `as --32 kvm-probe.S -o p.o && ld -m elf_i386 -Ttext=0x7c00 --oformat=binary p.o -o p.bin`.
 * Kept as bytes so hosts need no assembler; test/unit/vm-accel.test.ts re-assembles and compares
 * when binutils is present.
 */
export const KVM_PROBE_BOOT_SECTOR_HEX =
  'fa31c08ed88ec08ed0bc007cfcbe2e7de81e00e4920c02e692660f0116287d0f20c06683c8010f22c066ea3d7c00000800baf803ac84c07403eeebf8c366b810008ed88ec08ed0be4c7d0000e86e000000bf0010000031c0b9000c0000f3abc7050010000003200000c7050020000003300000bf00300000b883000000b9000200008907050000200083c708e2f4b8001000000f22d80f20e083c8200f22e0b9800000c00f320d000100000f300f20c00d000000800f22c0eacc7c0000180066baf803ac84c07403eeebf8c3be6f7d0000e8e9ffffff48c7c70000200048c7c1000040004831c0f348ab48c7c180f0fa0248ffc975fbbe8d7d0000e8bffffffff4ebfd8d742600900000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf001f00087d0000424f4f54504154482d4b564d2d50524f4245207265616c2d6d6f64650a00424f4f54504154482d4b564d2d50524f42452070726f7465637465642d6d6f64650a00424f4f54504154482d4b564d2d50524f4245206c6f6e672d6d6f64650a00424f4f54504154482d4b564d2d4f4b0a' +
  '00'.repeat(97) +
  '55aa';

export const KVM_PROBE_OK_MARKER = 'BOOTPATH-KVM-OK';
const DEFAULT_PROBE_TIMEOUT_MS = 5000;

export function kvmProbeBootSector(): Buffer {
  const buf = Buffer.from(KVM_PROBE_BOOT_SECTOR_HEX, 'hex');
  if (buf.length !== 512 || buf[510] !== 0x55 || buf[511] !== 0xaa) throw new Error(`KVM probe boot sector is corrupt (${buf.length} bytes)`);
  return buf;
}

/** Boot the probe sector under KVM and report how far it got. Never takes much longer than the deadline. */
export async function probeKvm(opts: ResolveAccelOptions = {}): Promise<KvmProbeResult> {
  const device = opts.kvmDevice ?? '/dev/kvm';
  const started = Date.now();
  try {
    await fs.access(device, constants.R_OK | constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT' ? `${device} does not exist` : `${device} is not accessible (${code ?? 'error'})`;
    return { ok: false, durationMs: Date.now() - started, stageReached: 'none', detail };
  }

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-kvm-probe-'));
  const image = path.join(dir, 'probe.img');
  await fs.writeFile(image, kvmProbeBootSector());
  const timeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  try {
    return await new Promise<KvmProbeResult>((resolve) => {
      const args = [
        '-accel', 'kvm', '-cpu', 'host', '-m', '64', '-display', 'none', '-nodefaults', '-no-reboot',
        '-serial', 'stdio', '-drive', `if=ide,format=raw,file=${image},snapshot=on`,
      ];
      const child = spawn(opts.qemuBinary ?? 'qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      // Like every machine's QEMU: an interrupt (Ctrl-C, SIGTERM) during the probe must not leave it
      // behind — under broken nested KVM it would sit in the kernel until killed.
      const untrack = child.pid !== undefined ? registerLiveProcess({ pid: child.pid, pidfile: null, label: 'KVM probe' }) : () => {};
      let out = '';
      let err = '';
      let settled = false;
      const lastStage = (): string => {
        const lines = out.split('\n').filter((l) => l.startsWith('BOOTPATH-KVM'));
        return lines.at(-1)?.trim() ?? 'none';
      };
      const finish = (ok: boolean, detail: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        untrack();
        resolve({ ok, durationMs: Date.now() - started, stageReached: ok ? KVM_PROBE_OK_MARKER : lastStage(), detail });
      };
      const timer = setTimeout(() => {
        const stage = lastStage();
        const where = stage === 'none' ? 'never reached the boot sector' : `stalled after "${stage}"`;
        finish(false, `a KVM test guest ${where} within ${timeoutMs} ms (the same guest needs well under 1 s under TCG): KVM works but is unusably slow here, typical of broken nested virtualization`);
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if (out.includes(KVM_PROBE_OK_MARKER)) finish(true, `KVM test guest reached long mode and finished its workload in ${Date.now() - started} ms`);
      });
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString('utf8');
      });
      child.on('error', (e) => finish(false, `could not start QEMU for the KVM probe: ${e.message}`));
      child.on('exit', (code, signal) => {
        if (settled) return;
        const stderr = err.trim().split('\n').filter((l) => !/warning: host doesn't support requested feature/.test(l)).join('; ');
        finish(false, `QEMU with -accel kvm exited early (${signal ?? `exit code ${String(code)}`}): ${stderr || 'no error output'}`);
      });
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** One probe per process: concurrent callers share the same promise. */
let cachedProbe: Promise<KvmProbeResult> | null = null;

export function cachedKvmProbe(opts: ResolveAccelOptions = {}): Promise<KvmProbeResult> {
  cachedProbe ??= probeKvm(opts);
  return cachedProbe;
}

export async function resolveAccel(requested: 'auto' | Accel, opts: ResolveAccelOptions = {}): Promise<AccelVerdict> {
  if (requested === 'tcg') return { accel: 'tcg', reason: 'TCG was requested', timeoutScale: timeoutScaleFor('tcg') };
  const probe = await cachedKvmProbe(opts);
  if (probe.ok) return { accel: 'kvm', reason: `KVM works: ${probe.detail}`, timeoutScale: timeoutScaleFor('kvm'), probe };
  if (requested === 'kvm') {
    throw new HostNotCapableError(
      `KVM was requested but does not work on this host: ${probe.detail}`,
      'enable working (nested) virtualization for this host, or run with --accel auto / tcg to use software emulation',
    );
  }
  return {
    accel: 'tcg',
    reason: `using TCG (software emulation, ~${timeoutScaleFor('tcg')}× slower timeouts) because ${probe.detail}`,
    timeoutScale: timeoutScaleFor('tcg'),
    probe,
  };
}
