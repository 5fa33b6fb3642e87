/**
 * A tiny Linux guest for VM-layer tests: Debian's cloud kernel + a busybox initramfs whose /init
 * behaves according to `bootpath.mode=` on the kernel command line. Boots to userspace in a few
 * seconds under TCG.
 *
 * Modes:
 *   normal       prints TINYGUEST-READY, serves a banner on guest port 22, waits; the ACPI power
 *                button (QMP system_powerdown) powers it off
 *   reboot-once  first boot writes a marker to /dev/vda and `reboot -f`s; later boots are normal
 *   write-disk   writes a marker to /dev/vda, then normal
 *   fill-disk    writes random data over all of /dev/vda (a host filesystem smaller than the disk fills up)
 *   panic        crashes the kernel on purpose (sysrq c)
 *   poweroff     `poweroff -f` right away
 *
 * The kernel is fetched once with `apt-get download` into <cacheDir>/test-kernel/ (needs the
 * Debian apt mirror and `dpkg-deb`); busybox comes from busybox-static.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { cacheDir } from '../../core/paths.js';
import type { MachineSpec } from '../../vm/machine.js';

const run = promisify(execFile);

export type TinyGuestMode = 'normal' | 'reboot-once' | 'write-disk' | 'fill-disk' | 'panic' | 'poweroff';

export interface TinyGuest {
  kernel: string;
  initrd: string;
  kernelVersion: string;
}

export const TINY_READY = /TINYGUEST-READY/;
export const TINY_DISK_MARKER = 'TINYGUEST-WROTE-THIS';
const BUSYBOX = '/bin/busybox';
const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';

// Load order matters: there is no modules.dep in the initramfs.
const MODULES = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'net/core/failover.ko',
  'drivers/net/net_failover.ko',
  'drivers/net/virtio_net.ko',
  'drivers/block/virtio_blk.ko',
  'drivers/input/evdev.ko',
  'drivers/acpi/button.ko',
];

const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mode=normal
for a in $(cat /proc/cmdline); do case "$a" in bootpath.mode=*) mode="\${a#bootpath.mode=}";; esac; done
for m in ${MODULES.map((m) => path.basename(m, '.ko')).join(' ')}; do insmod /lib/modules/$m.ko || echo "TINYGUEST: insmod $m failed"; done
echo "TINYGUEST: userspace up, mode=$mode"
wait_disk() { i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; }
case "$mode" in
  panic)
    echo "TINYGUEST: crashing the kernel on purpose"
    echo c > /proc/sysrq-trigger ;;
  poweroff)
    echo "TINYGUEST: powering off"
    poweroff -f ;;
  reboot-once)
    wait_disk
    if [ "$(dd if=/dev/vda bs=12 count=1 2>/dev/null)" = "TINYREBOOTED" ]; then
      echo "TINYGUEST: booted again after reboot"
    else
      printf TINYREBOOTED | dd of=/dev/vda conv=notrunc 2>/dev/null; sync
      echo "TINYGUEST: rebooting"
      reboot -f
    fi ;;
  write-disk)
    wait_disk
    printf ${TINY_DISK_MARKER} | dd of=/dev/vda conv=notrunc 2>/dev/null; sync
    echo "TINYGUEST: wrote the disk" ;;
  fill-disk)
    wait_disk
    echo "TINYGUEST: filling the disk"
    dd if=/dev/urandom of=/dev/vda bs=1M conv=fsync 2>/dev/null
    echo "TINYGUEST: filled the disk" ;;
esac
for e in /sys/class/input/event*; do
  if grep -q "Power Button" "$e/device/name" 2>/dev/null; then
    (dd if="/dev/input/\${e##*/}" bs=24 count=1 >/dev/null 2>&1; echo "TINYGUEST: power button"; poweroff -f) &
  fi
done
ip link set lo up
ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
(while true; do echo "SSH-2.0-TinyGuest" | nc -l -p 22 >/dev/null 2>&1; done) &
echo "TINYGUEST-READY boot_id=$(cat /proc/sys/kernel/random/boot_id)"
while true; do sleep 3600; done
`;

async function findKernelPackage(): Promise<string> {
  const { stdout } = await run('apt-cache', ['depends', KERNEL_META_PACKAGE]);
  const m = /Depends:\s*(linux-image-\S+-cloud-amd64)/.exec(stdout);
  if (!m?.[1]) throw new Error(`could not find the kernel package ${KERNEL_META_PACKAGE} depends on (run apt-get update?):\n${stdout}`);
  return m[1];
}

/** Download + extract the kernel package once; returns the extraction dir. */
async function ensureKernel(root: string): Promise<{ dir: string; version: string }> {
  const existing = (await fs.readdir(root).catch(() => [] as string[])).filter((d) => d.startsWith('linux-image-') && !d.endsWith('.tmp'));
  const pick = async (name: string): Promise<{ dir: string; version: string } | null> => {
    const dir = path.join(root, name);
    const boot = await fs.readdir(path.join(dir, 'boot')).catch(() => [] as string[]);
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
    return vmlinuz ? { dir, version: vmlinuz.slice('vmlinuz-'.length) } : null;
  };
  for (const name of existing) {
    const found = await pick(name);
    if (found) return found;
  }
  const pkg = await findKernelPackage();
  const tmp = path.join(root, `${pkg}.${process.pid}.tmp`);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  await run('apt-get', ['download', pkg], { cwd: tmp, maxBuffer: 16 * 1024 * 1024 });
  const deb = (await fs.readdir(tmp)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb in ${tmp}`);
  await run('dpkg-deb', ['-x', path.join(tmp, deb), path.join(tmp, 'x')]);
  const final = path.join(root, pkg);
  await fs.rm(final, { recursive: true, force: true });
  await fs.rename(path.join(tmp, 'x'), final);
  await fs.rm(tmp, { recursive: true, force: true });
  const found = await pick(pkg);
  if (!found) throw new Error(`no /boot/vmlinuz-* in ${pkg}`);
  return found;
}

/** Paths (relative to root) of every entry under dir, parents first (what cpio wants). */
async function listTree(dir: string, prefix = '.'): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = `${prefix}/${e.name}`;
    out.push(rel);
    if (e.isDirectory()) out.push(...(await listTree(dir, rel)));
  }
  return out;
}

async function buildInitramfs(root: string, kernelDir: string, version: string): Promise<string> {
  const busybox = await fs.readFile(BUSYBOX).catch(() => {
    throw new Error(`${BUSYBOX} is missing: apt-get install -y busybox-static`);
  });
  const hash = createHash('sha256').update(INIT_SCRIPT).update(busybox).update(version).digest('hex').slice(0, 16);
  const out = path.join(root, `tiny-initramfs-${hash}.gz`);
  if (existsSync(out)) return out;
  const staging = await fs.mkdtemp(path.join(root, 'initramfs-staging-'));
  try {
    await fs.mkdir(path.join(staging, 'bin'), { recursive: true });
    await fs.mkdir(path.join(staging, 'lib/modules'), { recursive: true });
    await fs.mkdir(path.join(staging, 'dev'));
    await fs.writeFile(path.join(staging, 'bin/busybox'), busybox, { mode: 0o755 });
    await fs.writeFile(path.join(staging, 'init'), INIT_SCRIPT, { mode: 0o755 });
    for (const m of MODULES) {
      await fs.copyFile(path.join(kernelDir, 'lib/modules', version, 'kernel', m), path.join(staging, 'lib/modules', path.basename(m)));
    }
    const files = await listTree(staging);
    const cpio = await new Promise<Buffer>((resolve, reject) => {
      const child = execFile('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: staging, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
      child.stdin?.end(files.join('\n') + '\n');
    });
    const tmp = `${out}.${process.pid}.tmp`;
    await fs.writeFile(tmp, gzipSync(cpio, { level: 1 }));
    await fs.rename(tmp, out);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return out;
}

let cached: Promise<TinyGuest> | null = null;

/** Kernel + initramfs of the tiny guest, built once and cached under <cacheDir>/test-kernel/. */
export function ensureTinyGuest(): Promise<TinyGuest> {
  cached ??= (async () => {
    const root = path.join(cacheDir(), 'test-kernel');
    await fs.mkdir(root, { recursive: true });
    const kernel = await ensureKernel(root);
    const initrd = await buildInitramfs(root, kernel.dir, kernel.version);
    return { kernel: path.join(kernel.dir, 'boot', `vmlinuz-${kernel.version}`), initrd, kernelVersion: kernel.version };
  })();
  cached.catch(() => (cached = null));
  return cached;
}

export function tinyGuestAppend(mode: TinyGuestMode): string {
  // loglevel=4: panics and warnings reach the console (the problem watcher needs them), chatter does not.
  return `console=ttyS0 loglevel=4 panic=0 bootpath.mode=${mode}`;
}

/** A small raw base disk (zeros) the tiny guest can write to. */
export async function createTinyBaseDisk(file: string, sizeMiB = 4): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const handle = await fs.open(file, 'w');
  try {
    await handle.truncate(sizeMiB * 1024 * 1024);
  } finally {
    await handle.close();
  }
  return file;
}

/** A MachineSpec for the tiny guest under TCG. */
export function tinyGuestSpec(
  guest: TinyGuest,
  opts: { name: string; runDir: string; mode: TinyGuestMode; baseDisk?: string; diskDir?: string; memoryMiB?: number; restartOnGuestReset?: boolean },
): MachineSpec {
  const spec: MachineSpec = {
    name: opts.name,
    runDir: opts.runDir,
    directKernel: { kernel: guest.kernel, initrd: guest.initrd, append: tinyGuestAppend(opts.mode) },
    firmware: 'bios',
    memoryMiB: opts.memoryMiB ?? 256,
    cpus: 1,
    accel: 'tcg',
    provisioning: { kind: 'none' },
    sshGuestPort: 22,
  };
  if (opts.baseDisk) spec.baseDisk = { path: opts.baseDisk, format: 'raw' };
  if (opts.diskDir) spec.diskDir = opts.diskDir;
  if (opts.restartOnGuestReset !== undefined) spec.restartOnGuestReset = opts.restartOnGuestReset;
  return spec;
}
