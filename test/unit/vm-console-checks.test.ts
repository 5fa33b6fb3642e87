import { expect } from 'chai';
import { matchConsoleLine } from '../../vm/console-checks.js';

describe('vm/console-checks', () => {
  const cases: [string, string | null, 'fatal' | 'warn' | null][] = [
    ['[    3.15] Kernel panic - not syncing: sysrq triggered crash', 'kernel-panic', 'fatal'],
    ['[   12.00] Oops: 0000 [#1] PREEMPT SMP NOPTI', 'kernel-oops', 'fatal'],
    ['You are in emergency mode. After logging in, type "journalctl -xb"', 'emergency-shell', 'fatal'],
    ['[   40.1] dracut: FATAL: Failed to mount block device', 'dracut-fatal', 'fatal'],
    ['[  190.2] dracut-initqueue[312]: Warning: dracut-initqueue: timeout, starting timeout scripts', 'dracut-timeout', 'warn'],
    ['Warning: Could not boot.', 'dracut-could-not-boot', 'fatal'],
    ['[  55.0] Out of memory: Killed process 812 (rpm-ostree) total-vm:1G', 'oom-kill', 'fatal'],
    ['[FAILED] Failed to start ignition-files.service - Ignition (files).', 'ignition-stage-failed', 'fatal'],
    ['[    1.0] BUG: kernel NULL pointer dereference, address: 0000', 'kernel-bug', 'warn'],
    ['[    2.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 bar+0x1/0x2', 'kernel-warning', 'warn'],
    ['systemd[1]: foo.service: Found ordering cycle on bar.service/start', 'ordering-cycle', 'warn'],
    ['systemd[1]: /usr/lib/systemd/system-generators/ostree-system-generator failed with exit status 1.', 'generator-failure', 'warn'],
    ['[  OK  ] Reached target multi-user.target', null, null],
    ['TINYGUEST-READY boot_id=1', null, null],
  ];
  for (const [line, id, severity] of cases) {
    it(`${id ?? 'ignores'}: ${line.slice(0, 50)}`, () => {
      const c = matchConsoleLine(line);
      expect(c?.id ?? null).to.equal(id);
      expect(c?.severity ?? null).to.equal(severity);
    });
  }

  it('prefers a fatal match over a warning on the same line', () => {
    expect(matchConsoleLine('BUG: soft lockup; Kernel panic - not syncing: softlockup: hung tasks')?.id).to.equal('kernel-panic');
  });
});
