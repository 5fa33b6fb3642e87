/**
 * The contract between the harness and the VM backends. The harness asks for a Machine and never
 * spawns QEMU itself; backends (QEMU direct, libvirt) implement this interface.
 *
 * Lifecycle: create (backend.createMachine) → start() → [guest reboots are handled transparently]
 * → powerOff()/kill() → destroy(). destroy() is idempotent and always safe to call.
 */

export type Accel = 'kvm' | 'tcg';
export type Firmware = 'bios' | 'uefi';

/** One SSH key pair on disk, OpenSSH format. The private key file is mode 0600. */
export interface SshKeyPair {
  privateKeyPath: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
}

/** One systemd system credential (name as systemd reads it, e.g. `tmpfiles.extra`; raw contents). */
export interface SystemdCredential {
  name: string;
  value: string;
}

/**
 * What the guest should be told at first boot: Ignition for CoreOS-like images (and testbed),
 * systemd credentials over SMBIOS type 11 for bootc images, cloud-init for cloud images.
 */
export type Provisioning =
  | {
      kind: 'ignition';
      /** Ignition spec 3.x config object; written to a file and passed with -fw_cfg name=opt/com.coreos/config. */
      config: Record<string, unknown>;
    }
  | { kind: 'credentials'; credentials: SystemdCredential[] }
  | { kind: 'cloud-init'; userData: string; metaData: string }
  | { kind: 'none' };

/** Direct kernel boot: used by vm/ tests with a tiny busybox initramfs, never by scenarios. */
export interface DirectKernelBoot {
  kernel: string;
  initrd?: string;
  append?: string;
}

export interface MachineSpec {
  /** Unique within a run; used in file names and process titles. [a-z0-9-]+ */
  name: string;
  /** The machine's own directory: overlay disk, console logs, QMP socket, pidfile, provisioning files. */
  runDir: string;
  /** The cached base disk. Never written: the machine runs on a qcow2 overlay in diskDir. */
  baseDisk?: { path: string; format: 'qcow2' | 'raw' };
  /**
   * Where the machine's writable disks go (overlay, extra disks, UEFI variables); they grow with
   * every deployment the guest writes and hold the guest's own host key, so a scenario run puts them
   * in its private state directory or under --work-dir, never in results. Defaults to runDir.
   */
  diskDir?: string;
  /** Grow the overlay to this size (GiB) when larger than the base. */
  diskSizeGiB?: number;
  extraDisks?: { sizeGiB: number }[];
  directKernel?: DirectKernelBoot;
  firmware: Firmware;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  provisioning: Provisioning;
  /**
   * Where the provisioning files go (Ignition config, seed ISO, credential files): they can carry
   * the guest's host private key, so the harness points this at the run's private state dir, never
   * at results. Defaults to runDir (tests and benches that own their whole directory).
   */
  provisionDir?: string;
  /** Guest port to forward from 127.0.0.1:<allocated> (default 22). null: no network forward. */
  sshGuestPort?: number | null;
  /**
   * Restart a fresh QEMU process on the same overlay when the guest resets (QEMU runs with
   * -no-reboot). Steadier reboot cycles under TCG than an in-process reset (testbed spike, pitfall 9).
   */
  restartOnGuestReset?: boolean;
}

export interface SshEndpoint {
  host: '127.0.0.1';
  port: number;
}

/** Why a machine stopped being usable. Raised through Machine.failureSignal. */
export class MachineFailure extends Error {
  constructor(
    readonly kind: 'panic' | 'died' | 'console-error' | 'disk-full',
    message: string,
    /** The last console lines, for the user. */
    readonly consoleExcerpt: string,
  ) {
    super(message);
    this.name = 'MachineFailure';
  }
}

export type MachineEvent =
  | { type: 'boot'; boot: number; consoleLog: string }
  | { type: 'guest-reset'; boot: number }
  | { type: 'guest-shutdown'; boot: number }
  | { type: 'console-problem'; boot: number; pattern: string; line: string }
  | { type: 'died'; boot: number; message: string };

export interface Machine {
  readonly spec: MachineSpec;
  /** Valid after start(). May change after a transparent restart if the old port was taken. */
  readonly sshEndpoint: SshEndpoint | null;
  /** 1 for the first boot; incremented each time the guest boots again (reset or restart). */
  readonly bootCount: number;
  /** Path of the current boot's serial log (`console-<n>.log`). */
  readonly consoleLog: string;
  /**
   * Aborted with a MachineFailure the moment the machine dies or its console shows a panic/Oops/
   * emergency shell. The harness passes it to every wait so a dead guest fails fast, not by timeout.
   */
  readonly failureSignal: AbortSignal;

  start(): Promise<void>;
  /** Resolves with the match once `re` appears on the console (searching from boot `sinceBoot`, default the current one). */
  waitForConsole(re: RegExp, opts: { timeoutMs: number; sinceBoot?: number; signal?: AbortSignal }): Promise<RegExpMatchArray>;
  /** Last `lines` lines of the current boot's console, for error messages. */
  consoleTail(lines?: number): string;
  on(listener: (event: MachineEvent) => void): () => void;
  /** ACPI powerdown through QMP; kills after timeoutMs. */
  powerOff(timeoutMs?: number): Promise<void>;
  /** Hard reset through QMP (system_reset). */
  reset(): Promise<void>;
  /** SIGKILL the QEMU process now. */
  kill(): Promise<void>;
  /** Stop everything this machine owns and remove its pidfile. Idempotent. `keepFiles` keeps the overlay. */
  destroy(opts?: { keepFiles?: boolean }): Promise<void>;
}
