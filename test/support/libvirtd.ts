/**
 * A libvirtd for tests on a machine without systemd as PID 1 (CI containers, this dev VM), as root.
 *
 * ensureLibvirtd():
 *   - installs libvirt-daemon, libvirt-daemon-driver-qemu and libvirt-clients when virsh/libvirtd
 *     are missing (apt-get, no recommends);
 *   - creates what the Debian package expects from its postinst/udev: the `kvm` group, a
 *     `libvirt-qemu` system user and group (without them the QEMU driver fails with "Failed to parse
 *     user 'libvirt-qemu'"), /var/log/libvirt, /var/run/libvirt; and gives /dev/kvm to the kvm
 *     group (0660) as udev would. Without that last step libvirt's capability cache is never valid
 *     ("KVM was enabled when probing …, but it is not available now") and it re-probes QEMU on
 *     every call: `virsh create` then takes over a minute instead of half a second;
 *   - starts `virtlogd -d` and `libvirtd -d` with pidfiles in a temp dir, unless a libvirtd already
 *     answers (then it is used and left alone), and waits until `virsh capabilities` answers.
 *
 * stop() ends only the daemons this helper started, by their pids.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isSameProcessAlive } from '../../vm/proc.js';

const run = promisify(execFile);
export const TEST_LIBVIRT_URI = 'qemu:///system';
const PACKAGES = ['libvirt-daemon', 'libvirt-daemon-driver-qemu', 'libvirt-clients'];

export interface LibvirtdHandle {
  uri: string;
  /** Whether this helper started the daemons (false: an existing libvirtd was used). */
  started: boolean;
  stop(): Promise<void>;
}

async function ok(file: string, args: string[]): Promise<boolean> {
  try {
    await run(file, args, { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

async function answers(uri: string): Promise<boolean> {
  return ok('virsh', ['-c', uri, 'capabilities']);
}

async function ensurePackages(): Promise<void> {
  if (existsSync('/usr/sbin/libvirtd') && existsSync('/usr/bin/virsh') && existsSync('/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so')) return;
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (err) {
    throw new Error(`could not install ${PACKAGES.join(' ')} (apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}): ${(err as Error).message}`);
  }
}

async function ensureUsersAndDirs(): Promise<void> {
  if (!(await ok('getent', ['group', 'kvm']))) await run('groupadd', ['-r', 'kvm']);
  if (!(await ok('getent', ['group', 'libvirt-qemu']))) await run('groupadd', ['-r', 'libvirt-qemu']);
  if (!(await ok('getent', ['passwd', 'libvirt-qemu']))) {
    await run('useradd', ['-r', '-g', 'libvirt-qemu', '-G', 'kvm', '-d', '/var/lib/libvirt', '-s', '/usr/sbin/nologin', 'libvirt-qemu']);
  }
  for (const dir of ['/var/log/libvirt', '/var/run/libvirt', '/var/lib/libvirt']) await fs.mkdir(dir, { recursive: true });
  if (existsSync('/dev/kvm')) {
    const st = statSync('/dev/kvm');
    // Only the state a missing udev leaves behind (root:root 0600) is changed.
    if (st.gid === 0 && (st.mode & 0o060) === 0) {
      await run('chgrp', ['kvm', '/dev/kvm']);
      await run('chmod', ['0660', '/dev/kvm']);
    }
  }
}

async function readPid(file: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0) return pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no pid in ${file} after ${timeoutMs} ms`);
}

async function stopPid(pid: number): Promise<void> {
  if (!isSameProcessAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isSameProcessAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (isSameProcessAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Whether a process with this command name runs (a socket file alone may be stale). */
async function processRunning(comm: string): Promise<boolean> {
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const name = await fs.readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (name.trim() === comm && isSameProcessAlive(Number(entry))) return true;
  }
  return false;
}

/** Use a running libvirtd or start one; throws with the reason when that is impossible. */
export async function ensureLibvirtd(uri: string = TEST_LIBVIRT_URI): Promise<LibvirtdHandle> {
  if (process.getuid?.() !== 0) throw new Error('starting libvirtd for tests needs root');
  await ensurePackages();
  await ensureUsersAndDirs();
  if (await answers(uri)) return { uri, started: false, stop: () => Promise.resolve() };

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-libvirtd-'));
  const pids: number[] = [];
  const stop = async (): Promise<void> => {
    for (const pid of pids.reverse()) await stopPid(pid);
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    // virtlogd collects each domain's QEMU stdout/stderr (/var/log/libvirt/qemu/<name>.log).
    if (!(await processRunning('virtlogd'))) {
      await run('virtlogd', ['-d', '--pid-file', path.join(dir, 'virtlogd.pid')], { cwd: '/' });
      pids.push(await readPid(path.join(dir, 'virtlogd.pid'), 10_000));
    }
    await run('libvirtd', ['-d', '--pid-file', path.join(dir, 'libvirtd.pid')], { cwd: '/' });
    pids.push(await readPid(path.join(dir, 'libvirtd.pid'), 10_000));
    const deadline = Date.now() + 30_000;
    while (!(await answers(uri))) {
      if (Date.now() > deadline) throw new Error(`libvirtd started but ${uri} did not answer within 30 s (see its log: journal or stderr)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { uri, started: true, stop };
}
