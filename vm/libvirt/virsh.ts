import { HostNotCapableError } from '../../core/errors.js';
import { runCommand, whichBinary, type CommandResult } from '../exec.js';

/**
 * `virsh`, always spawned with an argv array (never a shell) and always with an explicit `-c URI`,
 * so LIBVIRT_DEFAULT_URI or a user's ~/.config/libvirt cannot point bootpath somewhere else.
 */

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/** The connection URI: the explicit option, then BOOTPATH_LIBVIRT_URI, then qemu:///system. */
export function libvirtUri(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? (env.BOOTPATH_LIBVIRT_URI || DEFAULT_LIBVIRT_URI);
}

/** qemu:///system (and qemu+unix:///system…) runs QEMU as a system user unless told otherwise. */
export function isSystemUri(uri: string): boolean {
  return /^qemu(\+\w+)?:\/\/[^/]*\/system\b/.test(uri);
}

/** virsh's answer for a domain that does not exist (any more). */
export function isNoDomainError(stderr: string): boolean {
  return /failed to get domain|Domain not found|no domain with matching/i.test(stderr);
}

export class Virsh {
  constructor(
    readonly uri: string,
    readonly binary = 'virsh',
  ) {}

  /** argv for one virsh call (pure; exposed for tests and for long-running event processes). */
  args(args: readonly string[]): string[] {
    return ['-q', '-c', this.uri, ...args];
  }

  run(args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    return runCommand(this.binary, this.args(args), { timeoutMs });
  }

  /** Run; a non-zero exit throws an Error that names the virsh command and quotes its stderr. */
  async checked(args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    const res = await this.run(args, timeoutMs);
    if (res.code !== 0) throw new Error(`virsh -c ${this.uri} ${args.join(' ')} failed: ${describeFailure(res)}`);
    return res;
  }

  /** Names of all running domains on this connection (transient ones included). */
  async listDomains(): Promise<string[]> {
    const res = await this.checked(['list', '--name']);
    return res.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** The domain's numeric id while it runs; null when it does not exist or is shut off. */
  async domainId(name: string): Promise<number | null> {
    const res = await this.run(['domid', name], 15_000);
    if (res.code !== 0) return null;
    const id = Number(res.stdout.trim());
    return Number.isInteger(id) && id > 0 ? id : null;
  }
}

export function describeFailure(res: CommandResult): string {
  const status = res.signal ? `signal ${res.signal}` : `exit code ${String(res.code)}`;
  const text = (res.stderr.trim() || res.stdout.trim() || 'no output').replace(/^error: /gm, '');
  return `${text} (${status})`;
}

/** Fail with the package to install when virsh is missing. */
export async function requireVirsh(): Promise<string> {
  const bin = await whichBinary('virsh');
  if (!bin) {
    throw new HostNotCapableError(
      'the libvirt backend needs virsh, which is not installed',
      'apt-get install -y --no-install-recommends libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu (or use --backend qemu)',
    );
  }
  return bin;
}

/** A connection check that says what to do when libvirtd is not there. */
export async function checkConnection(virsh: Virsh): Promise<void> {
  const res = await virsh.run(['version'], 20_000);
  if (res.code === 0) return;
  throw new HostNotCapableError(
    `cannot connect to libvirt at ${virsh.uri}: ${describeFailure(res)}`,
    `start libvirtd (systemctl start libvirtd, or libvirtd -d as root), or set BOOTPATH_LIBVIRT_URI to a reachable URI, or use --backend qemu`,
  );
}
