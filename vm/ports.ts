import { randomInt } from 'node:crypto';

/**
 * Host ports for `hostfwd=tcp:127.0.0.1:PORT-:22`.
 *
 * kola finds a free port by listening on port 0 and closing it, then hands the number to QEMU —
 * racy: another process can take it in between. Instead, QEMU binds the port itself; if the bind
 * fails QEMU exits at once with "Could not set up host forwarding rule", and the caller retries
 * with another candidate. Inside one process, ports held by live machines are never offered twice,
 * so parallel machines of one run cannot collide; across processes the retry resolves collisions.
 *
 * Candidates come from 20000–32767: below Linux's default ephemeral range (32768–60999), so
 * outgoing connections of this host do not hold them by chance, and above common service ports.
 */
export const PORT_RANGE = { min: 20000, max: 32767 } as const;

/** QEMU's message when slirp cannot bind the host side of a forward (port taken). */
export function isHostfwdBindFailure(stderr: string): boolean {
  return /could not set up host forwarding rule/i.test(stderr);
}

/** QEMU's user-network forward from 127.0.0.1:hostPort to the guest (both backends pass it to QEMU). */
export function hostForwardRule(hostPort: number, guestPort: number): string {
  if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) throw new Error(`invalid host port ${hostPort}`);
  // Always an explicit loopback address: an empty host address would mean 0.0.0.0 (all interfaces).
  return `hostfwd=tcp:127.0.0.1:${hostPort}-:${guestPort}`;
}

export class PortAllocator {
  private readonly held = new Set<number>();

  constructor(private readonly range: { min: number; max: number } = PORT_RANGE) {}

  /** A random port not held by this process. The caller must release() it when done. */
  acquire(avoid: readonly number[] = []): number {
    const size = this.range.max - this.range.min + 1;
    if (this.held.size >= size) throw new Error(`all ${size} forwarding ports in ${this.range.min}-${this.range.max} are in use by this process`);
    for (;;) {
      const port = randomInt(this.range.min, this.range.max + 1);
      if (this.held.has(port) || avoid.includes(port)) continue;
      this.held.add(port);
      return port;
    }
  }

  release(port: number): void {
    this.held.delete(port);
  }

  isHeld(port: number): boolean {
    return this.held.has(port);
  }
}

/** The process-wide allocator all machines share. */
export const hostPorts = new PortAllocator();

/** How many different ports to try before giving up on starting a machine. */
export const MAX_PORT_ATTEMPTS = 8;
