/**
 * SSH-ready and reboot-detection latency, measured against the guest's own sshd start as the
 * serial console shows it (the testbed prints `bootpath-testbed: sshd started` once sshd runs).
 *
 *   npm run bench -- ssh-latency [reboots=3] [hint|poll]
 *
 * `hint` (default) connects the way the harness does for the testbed: sparse attempts until the
 * console line, then at once (the catalog's ssh-ready-console). `poll` leaves the line out and polls
 * from power-on with overlapping attempts, as for images that print no such line.
 *
 * Prints, per boot: console "sshd started" → SSH session ready (the harness noticed the guest),
 * the handshake's own duration, and the reboot cycle (trigger → new boot id answered). kola polls
 * boot_id on 10 s ticks; the target here is < 0.5 s after sshd accepts.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cacheDir } from '../core/paths.js';
import { connectGuest } from '../harness/guest/connect.js';
import { rebootGuest } from '../harness/guest/reboot.js';
import { scaledTimeouts } from '../harness/run/timeouts.js';
import { buildTestbed } from '../images/testbed/builder.js';
import { resolveAccel } from '../vm/accel.js';
import { createMachine } from '../vm/backends.js';
import { sshProvisioning } from '../vm/provision/ignition.js';
import { installSignalHandlers } from '../vm/reaper.js';
import { generateKeyPair } from '../vm/ssh-keys.js';

const SSHD_STARTED = /bootpath-testbed: sshd started/;

export async function sshLatencyBench(args: string[]): Promise<void> {
  const reboots = Number(args[0] ?? 3);
  const mode = args[1] ?? 'hint';
  if (mode !== 'hint' && mode !== 'poll') {
    console.error(`ssh-latency: the second argument is hint or poll, not ${mode}`);
    process.exitCode = 2;
    return;
  }
  installSignalHandlers();
  const accel = await resolveAccel('auto');
  const t = scaledTimeouts(accel.timeoutScale);
  const image = await buildTestbed({ cacheDir: cacheDir() });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-bench-ssh-'));
  const client = await generateKeyPair(dir, 'id', 'bench');
  const host = await generateKeyPair(dir, 'host', 'bench-host');
  const machine = createMachine({
    name: 'bench',
    runDir: path.join(dir, 'machine'),
    baseDisk: { path: image.diskPath, format: 'qcow2' },
    firmware: 'bios',
    memoryMiB: 1024,
    cpus: 2,
    accel: accel.accel,
    provisioning: sshProvisioning({ user: 'core', authorizedKey: client.publicKey, hostKey: { privateKey: await fs.readFile(host.privateKeyPath, 'utf8'), publicKey: host.publicKey } }),
  });
  const rows: string[] = [];
  let handshake = 0;
  const connect = (deadlineMs: number, sshdStarted: Promise<number>) =>
    connectGuest({
      readyHint: mode === 'hint' ? sshdStarted : undefined,
      endpoint: () => machine.sshEndpoint,
      user: 'core',
      privateKeyPath: client.privateKeyPath,
      hostPublicKey: host.publicKey,
      deadlineMs,
      signal: machine.failureSignal,
      bannerTimeoutMs: t.sshBannerMs,
      minSilentAgeMs: t.sshBannerMs / 2,
      log: (line) => {
        const m = /handshake (\d+) ms/.exec(line);
        if (m) handshake = Number(m[1]);
      },
    });
  // The console watcher resolves when the line appears; we keep the host time of that moment.
  const consoleSeen = (boot: number) =>
    machine.waitForConsole(SSHD_STARTED, { timeoutMs: t.bootMs, sinceBoot: boot }).then(() => performance.now());

  try {
    const started = performance.now();
    await machine.start();
    const sshdAt = consoleSeen(1);
    let session = await connect(Date.now() + t.bootMs, sshdAt);
    const readyAt = performance.now();
    rows.push(row('first boot', (await sshdAt) - started, readyAt - (await sshdAt), handshake, readyAt - started));
    for (let i = 0; i < reboots; i++) {
      const boot = machine.bootCount + 1;
      const sshd = consoleSeen(boot);
      const r = await rebootGuest({
        session,
        reconnect: (deadlineMs) => connect(deadlineMs, sshd),
        timeouts: { goDownMs: t.goDownMs, comeBackMs: t.bootMs, settleMs: t.settleMs },
        signal: machine.failureSignal,
      });
      if (r.verdict !== 'ok' || !r.session) throw new Error(`reboot ${i + 1}: ${r.verdict}: ${r.message}`);
      session = r.session;
      const upAt = r.timestamps.upAt! - Date.now() + performance.now();
      const sshdAtBoot = await sshd;
      rows.push(row(`reboot ${i + 1}`, sshdAtBoot - (r.timestamps.triggeredAt - Date.now() + performance.now()), upAt - sshdAtBoot, handshake, r.phases.upMs ?? NaN));
    }
    await session.close();
  } finally {
    await machine.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  }
  console.log(`ssh-latency (accel ${accel.accel}; ${os.cpus().length} CPUs; ${mode === 'hint' ? 'connect on the console line' : 'polling from power-on'}; ${new Date().toISOString()})`);
  console.log('boot          trigger→sshd   sshd→ssh ready   (of which handshake)   trigger→new boot seen');
  for (const r of rows) console.log(r);
  console.log('sshd→ssh ready is the harness noticing the guest: the SSH handshake itself runs in the emulated guest.');
}

function row(label: string, toSshd: number, notice: number, handshakeMs: number, cycle: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`.padStart(9);
  return `${label.padEnd(12)}  ${s(toSshd)}      ${s(notice)}        ${s(handshakeMs)}               ${s(cycle)}`;
}
