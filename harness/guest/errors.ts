import { InfraError } from '../../core/errors.js';

/** The SSH connection went away while something was using it (guest rebooted, died, or network gone). */
export class ConnectionLostError extends InfraError {
  constructor(
    message: string,
    /** The command that was running when it dropped, if any. */
    readonly command?: string,
  ) {
    super(message, 'ssh');
  }
}

/** The guest presented a host key other than the pinned one. Never retried: it will not fix itself. */
export class HostKeyMismatchError extends InfraError {
  constructor(
    readonly endpoint: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `host key mismatch for ${endpoint}: expected ${expected}, got ${actual}. ` +
        'The guest is not the machine that was provisioned with this key (stale port forward, or another VM on the port).',
      'ssh',
    );
  }
}

/** connectGuest gave up at its deadline. */
export class SshConnectTimeoutError extends InfraError {
  constructor(
    message: string,
    readonly lastError: string | null,
  ) {
    super(message, 'timeout');
  }
}

/**
 * The guest's sshd answers with the pinned host key but keeps refusing the run's key after it said
 * it is up: the login itself is gone (keys or user not where sshd looks), which retrying will not
 * fix. The message says so instead of "gave up after N s".
 */
export class SshAuthRejectedError extends InfraError {
  constructor(message: string) {
    super(message, 'ssh');
  }
}
