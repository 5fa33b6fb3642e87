/**
 * Checks of the Machine contract that every backend must pass the same way (vm/machine.ts), run by
 * each backend's integration suite against the tiny guest; the suites add their backend's own
 * checks (pidfiles and QMP for QEMU, domains and metadata for libvirt) around them.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { MachineFailure, type Machine, type MachineEvent } from '../../vm/machine.js';
import { TINY_READY } from './tiny-guest.js';

export function failureOf(signal: AbortSignal): Promise<MachineFailure> {
  return new Promise((resolve) => {
    const done = (): void => resolve(signal.reason as MachineFailure);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}

export async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

/** A machine in `panic` mode: the failure signal fires within 2 s of the panic line, and waits end with it. */
export async function expectPanicFailsFast(m: Machine): Promise<void> {
  let panicSeenAt = 0;
  m.on((e) => {
    if (e.type === 'console-problem' && e.pattern === 'kernel-panic' && !panicSeenAt) panicSeenAt = Date.now();
  });
  await m.start();
  const failure = await failureOf(m.failureSignal);
  const latency = Date.now() - panicSeenAt;
  console.log(`      panic line read → failureSignal ${latency} ms`);
  expect(failure).to.be.instanceOf(MachineFailure);
  expect(failure.kind).to.equal('panic');
  expect(failure.message).to.contain('Kernel panic - not syncing: sysrq triggered crash');
  expect(failure.consoleExcerpt).to.contain('Kernel panic');
  expect(latency).to.be.lessThan(2000);
  // Waits fail fast with the failure instead of timing out.
  const err = await m.waitForConsole(TINY_READY, { timeoutMs: 60_000 }).catch((e: unknown) => e);
  expect(err).to.equal(failure);
}

/**
 * A machine in `reboot-once` mode on `base`: the guest reboots, the machine boots again on the same
 * overlay with a new console file and the same SSH port, and the base disk is never written. Runs
 * `whileBoot2` before destroying the machine (backend checks), then checks the teardown.
 */
export async function expectRebootRestartsOnSameOverlay(m: Machine, base: string, whileBoot2: () => Promise<void> = async () => undefined): Promise<void> {
  const before = await sha256(base);
  const events: MachineEvent[] = [];
  m.on((e) => events.push(e));
  await m.start();
  const port = m.sshEndpoint?.port;
  await m.waitForConsole(/TINYGUEST: rebooting/, { timeoutMs: 60_000, signal: m.failureSignal });
  const t0 = Date.now();
  await m.waitForConsole(TINY_READY, { timeoutMs: 60_000, sinceBoot: 2, signal: m.failureSignal });
  console.log(`      guest reboot → ready again on boot 2: ${Date.now() - t0} ms`);
  expect(m.bootCount).to.equal(2);
  expect(m.consoleLog).to.equal(path.join(m.spec.runDir, 'console-2.log'));
  expect(await fs.readFile(path.join(m.spec.runDir, 'console-1.log'), 'utf8')).to.contain('TINYGUEST: rebooting');
  const console2 = await fs.readFile(m.consoleLog, 'utf8');
  // boot 2 read back what boot 1 wrote: the overlay carried it
  expect(console2).to.contain('booted again after reboot');
  expect(console2).to.not.contain('TINYGUEST: rebooting');
  expect(m.sshEndpoint?.port).to.equal(port);
  expect(events.map((e) => e.type)).to.deep.equal(['boot', 'guest-reset', 'boot']);
  expect(m.failureSignal.aborted).to.equal(false);
  expect(await sha256(base)).to.equal(before);
  await whileBoot2();
  await m.destroy();
  expect(existsSync(path.join(m.spec.runDir, 'overlay.qcow2'))).to.equal(false);
  expect(existsSync(path.join(m.spec.runDir, 'console-2.log'))).to.equal(true);
  expect(await sha256(base)).to.equal(before);
}
