import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import { HostNotCapableError, errorMessage } from '../core/errors.js';
import { cacheDir } from '../core/paths.js';
import { resolveAccel, type AccelVerdict } from './accel.js';
import { runCommand, whichBinary } from './exec.js';
import { osbuildSelinux, OSBUILD_SELINUX_REMEDY, type OsbuildSelinux } from '../images/sources/osbuild-selinux.js';

/**
 * What this host can do, for `bootpath doctor` and for admission before a run. Each fact says
 * ok/missing/warn and, when something is wrong, the exact action that fixes it.
 */

export type FactStatus = 'ok' | 'missing' | 'warn';

export interface Fact<T> {
  status: FactStatus;
  value: T;
  /** Human summary, e.g. "QEMU 7.2.22 at /usr/bin/qemu-system-x86_64". */
  detail: string;
  /** Set when status is not ok: the command or action that fixes it. */
  remedy?: string;
}

export interface OvmfFirmware {
  code: string;
  vars: string;
}

export interface HostFacts {
  qemu: Fact<{ path: string; version: string } | null>;
  qemuImg: Fact<{ path: string; version: string } | null>;
  kvm: Fact<AccelVerdict>;
  cpus: Fact<number>;
  memory: Fact<{ totalMiB: number; availableMiB: number }>;
  /** Free space where base images and overlays go. */
  disk: Fact<{ path: string; freeGiB: number }>;
  ovmf: Fact<OvmfFirmware | null>;
  podman: Fact<{ path: string; version: string } | null>;
  setpriv: Fact<string | null>;
  virsh: Fact<string | null>;
  xorriso: Fact<string | null>;
  /** SELinux and the osbuild policy module bootc-image-builder needs when it is enforcing. */
  osbuildSelinux: Fact<OsbuildSelinux>;
}

export const QEMU_BINARY = 'qemu-system-x86_64';
const QEMU_REMEDY = 'apt-get install -y qemu-system-x86';
const QEMU_IMG_REMEDY = 'apt-get install -y qemu-utils';

/** Minimums below which a run is refused or warned about; a testbed guest needs ~512 MiB. */
const MIN_AVAILABLE_MIB = 1024;
const MIN_FREE_GIB = 5;

/** "QEMU emulator version 7.2.22 (Debian …)" → "7.2.22". */
export function parseQemuVersion(output: string): string | null {
  const m = /version (\d+\.\d+(?:\.\d+)?)/.exec(output);
  return m?.[1] ?? null;
}

/** Parse /proc/meminfo into MiB values. MemAvailable is what admission must use, not MemFree. */
export function parseMeminfo(text: string): { totalMiB: number; availableMiB: number } {
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m?.[1] ? Number(m[1]) : 0;
  };
  return { totalMiB: Math.floor(kib('MemTotal') / 1024), availableMiB: Math.floor(kib('MemAvailable') / 1024) };
}

async function versionOf(bin: string, args: string[]): Promise<{ path: string; version: string } | null> {
  const path = await whichBinary(bin);
  if (!path) return null;
  try {
    const res = await runCommand(path, args, { timeoutMs: 10_000 });
    return { path, version: parseQemuVersion(res.stdout + res.stderr) ?? ((res.stdout.trim().split('\n')[0] ?? '') || 'unknown') };
  } catch {
    return { path, version: 'unknown' };
  }
}

/** Both OVMF layouts Debian ships (2 MiB and 4 MiB flash); the first complete pair wins. */
export function findOvmf(exists: (p: string) => boolean = existsSync): OvmfFirmware | null {
  const pairs: OvmfFirmware[] = [
    { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
  ];
  return pairs.find((p) => exists(p.code) && exists(p.vars)) ?? null;
}

async function freeGiBAt(dir: string): Promise<{ path: string; freeGiB: number }> {
  // The cache dir may not exist yet: measure the nearest existing ancestor.
  let probe = dir;
  while (!existsSync(probe) && probe !== '/') probe = probe.slice(0, probe.lastIndexOf('/')) || '/';
  const st = await fs.statfs(probe);
  return { path: dir, freeGiB: Math.round(((st.bavail * st.bsize) / 1024 ** 3) * 10) / 10 };
}

function binaryFact(path: string | null, name: string, remedy: string, missingStatus: FactStatus = 'warn'): Fact<string | null> {
  return path ? { status: 'ok', value: path, detail: `${name} at ${path}` } : { status: missingStatus, value: null, detail: `${name} not found`, remedy };
}

export async function probeHost(opts: { probeKvm?: boolean } = {}): Promise<HostFacts> {
  const [qemu, qemuImg, podman, setpriv, virsh, xorriso, meminfo, disk] = await Promise.all([
    versionOf(QEMU_BINARY, ['--version']),
    versionOf('qemu-img', ['--version']),
    versionOf('podman', ['--version']),
    whichBinary('setpriv'),
    whichBinary('virsh'),
    whichBinary('xorriso'),
    fs.readFile('/proc/meminfo', 'utf8').then(parseMeminfo),
    freeGiBAt(cacheDir()),
  ]);

  let kvm: Fact<AccelVerdict>;
  if (!qemu || opts.probeKvm === false) {
    const verdict: AccelVerdict = { accel: 'tcg', reason: qemu ? 'KVM probe skipped' : 'QEMU is missing, KVM was not probed', timeoutScale: TCG_SCALE_FALLBACK };
    kvm = { status: 'warn', value: verdict, detail: verdict.reason, remedy: qemu ? 'probe KVM (bootpath doctor) before relying on it' : QEMU_REMEDY };
  } else {
    try {
      const verdict = await resolveAccel('auto');
      kvm =
        verdict.accel === 'kvm'
          ? { status: 'ok', value: verdict, detail: verdict.reason }
          : { status: 'warn', value: verdict, detail: verdict.reason, remedy: kvmRemedy() };
    } catch (err) {
      const verdict: AccelVerdict = { accel: 'tcg', reason: `KVM probe failed: ${errorMessage(err)}`, timeoutScale: TCG_SCALE_FALLBACK };
      kvm = { status: 'warn', value: verdict, detail: verdict.reason, remedy: kvmRemedy() };
    }
  }

  const ovmf = findOvmf();
  const cpus = os.availableParallelism();
  return {
    qemu: qemu
      ? { status: 'ok', value: qemu, detail: `QEMU ${qemu.version} at ${qemu.path}` }
      : { status: 'missing', value: null, detail: `${QEMU_BINARY} not found on PATH`, remedy: QEMU_REMEDY },
    qemuImg: qemuImg
      ? { status: 'ok', value: qemuImg, detail: `qemu-img ${qemuImg.version} at ${qemuImg.path}` }
      : { status: 'missing', value: null, detail: 'qemu-img not found on PATH', remedy: QEMU_IMG_REMEDY },
    kvm,
    cpus: { status: cpus >= 2 ? 'ok' : 'warn', value: cpus, detail: `${cpus} CPUs`, ...(cpus < 2 ? { remedy: 'use a host with at least 2 CPUs' } : {}) },
    memory:
      meminfo.availableMiB >= MIN_AVAILABLE_MIB
        ? { status: 'ok', value: meminfo, detail: `${meminfo.availableMiB} MiB available of ${meminfo.totalMiB} MiB` }
        : {
            status: 'warn',
            value: meminfo,
            detail: `only ${meminfo.availableMiB} MiB available of ${meminfo.totalMiB} MiB`,
            remedy: `free memory: each machine needs its memory size plus ~100 MiB of QEMU overhead (at least ${MIN_AVAILABLE_MIB} MiB)`,
          },
    disk:
      disk.freeGiB >= MIN_FREE_GIB
        ? { status: 'ok', value: disk, detail: `${disk.freeGiB} GiB free at ${disk.path}` }
        : {
            status: 'warn',
            value: disk,
            detail: `only ${disk.freeGiB} GiB free at ${disk.path}`,
            remedy: `free disk space there, run \`bootpath gc\`, or set BOOTPATH_CACHE_DIR to a larger disk (need ≥ ${MIN_FREE_GIB} GiB)`,
          },
    ovmf: ovmf
      ? { status: 'ok', value: ovmf, detail: `OVMF ${ovmf.code}` }
      : { status: 'warn', value: null, detail: 'no OVMF firmware found (UEFI machines unavailable)', remedy: 'apt-get install -y ovmf' },
    podman: podman
      ? { status: 'ok', value: podman, detail: `podman ${podman.version}` }
      : { status: 'warn', value: null, detail: 'podman not found (OCI image sources unavailable)', remedy: 'apt-get install -y podman' },
    setpriv: binaryFact(setpriv, 'setpriv', 'apt-get install -y util-linux (QEMU then dies with bootpath even on SIGKILL)'),
    virsh: binaryFact(virsh, 'virsh', 'apt-get install -y libvirt-clients (only for the libvirt backend)'),
    xorriso: binaryFact(xorriso, 'xorriso', 'apt-get install -y xorriso (needed for cloud-init seed ISOs)'),
    osbuildSelinux: osbuildSelinuxFact(osbuildSelinux()),
  };
}

/** Not a blocker for any backend: only bootc-image-builder disks need it (a warning, with the install line). */
export function osbuildSelinuxFact(v: OsbuildSelinux): Fact<OsbuildSelinux> {
  if (v.kind === 'not-enforcing') return { status: 'ok', value: v, detail: 'SELinux not enforcing (bootc-image-builder needs no policy module)' };
  if (v.kind === 'installed') return { status: 'ok', value: v, detail: `SELinux enforcing, osbuild policy module at ${v.module}` };
  return { status: 'warn', value: v, detail: 'SELinux enforcing without the osbuild policy module: bootc-image-builder builds would fail', remedy: OSBUILD_SELINUX_REMEDY };
}

function kvmRemedy(): string {
  if (!existsSync('/dev/kvm')) return 'enable virtualization (VT-x/AMD-V, or nested virtualization on a VM host) so /dev/kvm exists; runs continue under TCG, slower';
  return 'check /dev/kvm permissions (`usermod -aG kvm $USER`) and nested virtualization on this VM host; runs continue under TCG, slower';
}

/** Fallback when no probe ran; matches accel.ts's TCG factor. */
const TCG_SCALE_FALLBACK = 5;

/** Throw HostNotCapableError (exit 3) with the remedy when qemu-img is missing (every backend makes overlays with it). */
export async function requireQemuImg(): Promise<string> {
  const qemuImg = await whichBinary('qemu-img');
  if (!qemuImg) throw new HostNotCapableError('qemu-img was not found on PATH; bootpath needs it for overlay disks', QEMU_IMG_REMEDY);
  return qemuImg;
}

/** Throw HostNotCapableError (exit 3) with the remedy when QEMU or qemu-img is missing. */
export async function requireQemu(): Promise<{ qemu: string; qemuImg: string }> {
  const qemu = await whichBinary(QEMU_BINARY);
  if (!qemu) throw new HostNotCapableError(`${QEMU_BINARY} was not found on PATH; bootpath boots machines with QEMU`, QEMU_REMEDY);
  return { qemu, qemuImg: await requireQemuImg() };
}
