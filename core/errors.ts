/**
 * Errors that reach the user. Anything thrown that is NOT a BootpathError is a bug in bootpath and
 * is reported as such (with a stack trace in the log file, never on the terminal by default).
 *
 * Exit codes are part of the CLI contract (README "Exit codes"):
 *   0 all passed · 1 a scenario failed · 2 invalid input · 3 host not capable · 130 interrupted
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  invalidInput: 2,
  hostNotCapable: 3,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class BootpathError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A source location in a user-supplied file (1-based line and column). */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

/** One problem in a user-supplied file. */
export interface LocatedProblem extends SourceLocation {
  message: string;
}

/** Invalid user input: flags, scenario files, catalog entries, YAML. Exit code 2. */
export class InputError extends BootpathError {
  constructor(
    message: string,
    readonly problems: LocatedProblem[] = [],
  ) {
    super(message, ExitCode.invalidInput);
  }

  /** Every problem on its own line, `file:line:column: message`, in file order. */
  render(): string {
    if (this.problems.length === 0) return this.message;
    return this.problems.map((p) => `${formatLocation(p)}: ${p.message}`).join('\n');
  }
}

/** The host cannot do what was asked (no QEMU, no disk space, no podman…). Exit code 3. */
export class HostNotCapableError extends BootpathError {
  constructor(
    message: string,
    /** The exact command or action that fixes it, e.g. `apt-get install qemu-system-x86`. */
    readonly remedy: string,
  ) {
    super(message, ExitCode.hostNotCapable);
  }
}

/**
 * Infrastructure failed (image download, QEMU could not start, machine died). Reported separately
 * from assertion failures so that retries and flake triage can tell them apart.
 */
export class InfraError extends BootpathError {
  constructor(
    message: string,
    readonly kind: 'image' | 'machine-start' | 'machine-died' | 'ssh' | 'timeout' | 'other' = 'other',
  ) {
    super(message, ExitCode.failed);
  }
}

/** The user pressed Ctrl-C or the process got SIGTERM. */
export class InterruptedError extends BootpathError {
  constructor(signal: string) {
    super(`interrupted by ${signal}`, ExitCode.interrupted);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
