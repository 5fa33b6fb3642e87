/**
 * Console lines that mean a machine is broken (or worth a warning). Modelled on kola's
 * `consoleChecks` (coreos-assembler mantle/kola/harness.go), plus Ignition's stage failures.
 *
 * fatal → Machine.failureSignal aborts (the harness stops waiting at once);
 * warn  → a console-problem event only (reported, the run goes on).
 */
export interface ConsoleCheck {
  id: string;
  description: string;
  pattern: RegExp;
  severity: 'fatal' | 'warn';
  /** MachineFailure kind when fatal. */
  kind: 'panic' | 'console-error';
}

export const CONSOLE_CHECKS: readonly ConsoleCheck[] = [
  { id: 'kernel-panic', description: 'kernel panic', pattern: /Kernel panic - not syncing/, severity: 'fatal', kind: 'panic' },
  { id: 'kernel-oops', description: 'kernel oops', pattern: /\bOops: /, severity: 'fatal', kind: 'panic' },
  {
    id: 'emergency-shell',
    description: 'emergency shell',
    pattern: /You are in emergency mode|Press Enter for emergency shell|Starting Emergency Shell|Entering emergency mode/,
    severity: 'fatal',
    kind: 'console-error',
  },
  { id: 'dracut-fatal', description: 'dracut fatal error', pattern: /dracut: FATAL|dracut: Refusing to continue/, severity: 'fatal', kind: 'console-error' },
  { id: 'dracut-could-not-boot', description: 'dracut could not boot (root device never appeared)', pattern: /Could not boot\./, severity: 'fatal', kind: 'console-error' },
  { id: 'dracut-timeout', description: 'dracut initqueue timeout', pattern: /dracut-initqueue.*timeout, starting timeout scripts/, severity: 'warn', kind: 'console-error' },
  // systemd's status line when one of Ignition's initrd stages fails (the boot then goes to the
  // emergency target): the first sign of a config the real Ignition rejected.
  { id: 'ignition-stage-failed', description: 'an Ignition stage failed', pattern: /Failed to start ignition-[\w-]+\.service/, severity: 'fatal', kind: 'console-error' },
  { id: 'ignition-failed', description: 'Ignition failed', pattern: /Ignition failed|ignition\[\d+\]: .*(?:failed to fetch|error)/i, severity: 'fatal', kind: 'console-error' },
  { id: 'oom-kill', description: 'out-of-memory kill', pattern: /Out of memory: Killed process|invoked oom-killer/, severity: 'fatal', kind: 'console-error' },
  { id: 'initrd-cleanup-killed', description: 'initrd-cleanup.service killed', pattern: /initrd-cleanup\.service: Main process exited, code=killed/, severity: 'fatal', kind: 'console-error' },
  { id: 'grub-magic', description: 'GRUB memory corruption', pattern: /magic is broken at/, severity: 'fatal', kind: 'console-error' },
  { id: 'kernel-bug', description: 'kernel BUG', pattern: /\bBUG: /, severity: 'warn', kind: 'console-error' },
  { id: 'kernel-warning', description: 'kernel warning', pattern: /WARNING: CPU: \d+ PID: \d+/, severity: 'warn', kind: 'console-error' },
  { id: 'ordering-cycle', description: 'systemd ordering cycle', pattern: /Ordering cycle found|Found ordering cycle/, severity: 'warn', kind: 'console-error' },
  {
    id: 'generator-failure',
    description: 'systemd generator failure',
    pattern: /system-generators\/\S+ (?:failed with exit status \d+|terminated by signal \w+)/,
    severity: 'warn',
    kind: 'console-error',
  },
  { id: 'io-offline-device', description: 'I/O to offline device', pattern: /rejecting I\/O to offline device/, severity: 'warn', kind: 'console-error' },
  { id: 'ext4-delalloc', description: 'ext4 delayed allocation failure', pattern: /EXT4-fs \(.+?\): Delayed block allocation failed/, severity: 'warn', kind: 'console-error' },
  { id: 'segfault', description: 'segfault', pattern: /SIGSEGV|=11\/SEGV|segfault at/, severity: 'warn', kind: 'console-error' },
  { id: 'core-dump', description: 'core dump', pattern: /[Cc]ore dump(?:ed)?\b/, severity: 'warn', kind: 'console-error' },
];

/** The first check a line matches; fatal checks win over warnings. */
export function matchConsoleLine(line: string, checks: readonly ConsoleCheck[] = CONSOLE_CHECKS): ConsoleCheck | null {
  let warn: ConsoleCheck | null = null;
  for (const c of checks) {
    if (!c.pattern.test(line)) continue;
    if (c.severity === 'fatal') return c;
    warn ??= c;
  }
  return warn;
}
