/**
 * What an `mcd:` operation expands into: the daemon's own sequence of host actions, in its order,
 * each naming the MCO file and function it follows. Plain data (no closures), so a dry run can print
 * it and a unit test can compare it; the step kind executes it item by item over SSH.
 */

export type Driver = 'rpm-ostree' | 'bootc';
export type KernelType = 'default' | 'realtime' | '64k-pages';

/** Where in MCO (at the pinned commit) an item comes from. */
export interface Follows {
  file: string;
  function: string;
}

/** Exponential backoff the daemon wraps around a command (k8s wait.Backoff). */
export interface Retry {
  initialSeconds: number;
  factor: number;
  steps: number;
  capSeconds: number;
}

/** How the daemon judges a command's result. Every check but `failure-ignored` needs exit 0 first. */
export type Check =
  /** Non-zero exit is a daemon error; the output is not used. */
  | { kind: 'succeeds' }
  /** The daemon logs a failure and carries on. */
  | { kind: 'failure-ignored' }
  /** The output is parsed for these fields (which fed this plan's facts). */
  | { kind: 'reads'; fields: string[] }
  /** `rpm-ostree --version` YAML: `Features` must contain the feature, else the daemon takes another path. */
  | { kind: 'features-include'; feature: string }
  /** verifyExtensionsStaged: the staged deployment's requested-packages must hold every package. */
  | { kind: 'staged-requested-packages'; packages: string[] }
  /** checkOS: the booted image URL the daemon derives from this status must equal `image`. */
  | { kind: 'booted-image'; image: string; from: 'rpm-ostree-status' | 'bootc-status' }
  /** validateKernelArguments: every karg must be a space-separated word of the output. */
  | { kind: 'kargs-include'; kargs: string[] }
  /** `rpm -q`: exit 0 installed, exit 1 not installed, anything else an error. */
  | { kind: 'rpm-installed'; package: string };

export interface CommandItem {
  kind: 'command';
  /** A stable name for the item within its plan (used in logs and records). */
  id: string;
  argv: string[];
  /** The calls.yaml id this command is an instance of (null for podman, systemctl, nmstatectl, …). */
  call: string | null;
  follows: Follows;
  check: Check;
  retry?: Retry;
  /** Why this command runs here, in the daemon's words where it has them. */
  purpose: string;
  /**
   * When this command fails, these items run instead and the failure is not the daemon's error
   * (bootloader-update.service failing falls back to bootupctl in a container).
   */
  otherwise?: PlanItem[];
  /** `return`: when this command fails the daemon's function returns without error, skipping the rest of the plan. */
  onFailure?: 'return';
}

/**
 * Items the daemon runs as one unit whose error it only logs: the first failing item ends the
 * group with a warning and the plan carries on after it (runBootloaderUpdate).
 */
export interface GroupItem {
  kind: 'group';
  id: string;
  label: string;
  items: PlanItem[];
  failure: 'warn';
  follows: Follows;
}

export interface WriteFileItem {
  kind: 'write-file';
  id: string;
  path: string;
  content: string;
  follows: Follows;
}

export interface RemoveFileItem {
  kind: 'remove-file';
  id: string;
  path: string;
  /** os.RemoveAll rather than os.Remove. */
  recursive: boolean;
  follows: Follows;
}

/**
 * A branch the daemon took without running anything (a skipped update, a no-op kernel switch), so
 * the record says why a command is absent.
 */
export interface NoteItem {
  kind: 'note';
  id: string;
  text: string;
  follows: Follows;
}

/** The daemon returns this error here; nothing after it runs (the plan's onError items do). */
export interface DaemonErrorItem {
  kind: 'daemon-error';
  id: string;
  message: string;
  follows: Follows;
}

/**
 * The kargs nmstatectl wrote to its --kargs-out file become one rpm-ostree kargs call; the executor
 * reads the file after the previous command and calls `nicKargsCommand` (expand.ts) on its content.
 */
export interface NicKargsItem {
  kind: 'nic-kargs';
  id: string;
  file: string;
  /** argv before the karg flags: `rpm-ostree kargs` or `chroot <root> rpm-ostree kargs`. */
  prefix: string[];
  flag: '--append' | '--remove';
  call: string;
  follows: Follows;
}

/**
 * verifyExtensionPackages: one extension is satisfied when every `rpm -q` of one of its package
 * sets succeeds (current set first, then the legacy one); none satisfied is the daemon's error.
 */
export interface PackageSetsItem {
  kind: 'package-sets';
  id: string;
  extension: string;
  sets: CommandItem[][];
  follows: Follows;
}

/** The daemon stops here and the node reboots; the scenario's next step should be `reboot`. */
export interface RebootItem {
  kind: 'reboot';
  id: string;
  reason: string;
  follows: Follows;
}

export type PlanItem = CommandItem | GroupItem | WriteFileItem | RemoveFileItem | NoteItem | DaemonErrorItem | NicKargsItem | PackageSetsItem | RebootItem;

export interface Plan {
  operation: string;
  driver: Driver;
  items: PlanItem[];
  /**
   * Error handling the daemon defers: when an item at index >= `from` fails, `items` run (the
   * applyLayeredOSChanges rollback: `rpm-ostree cleanup -p`).
   */
  onError: { from: number; items: PlanItem[] } | null;
  /** Deferred cleanups that run whether the sequence succeeded or not, after onError. */
  finally: PlanItem[];
}
