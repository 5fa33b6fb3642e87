/**
 * Commands that need the VM layer, the image cache or the runner. They are imported lazily so that
 * `validate`, `--list` and `--dry-run` start fast and work on a host without QEMU.
 */
import type { RunPlan } from '../scenario/plan.js';
import type { CliOptions } from './args.js';
import type { CliIo } from './io.js';

export type CommandHandler = (opts: CliOptions, io: CliIo, plans?: RunPlan[]) => Promise<number>;

export const commandHandlers: Partial<Record<CliOptions['command'], CommandHandler>> = {
  run: async (opts, io, plans) => (await import('./commands/run.js')).runCommand(opts, io, plans),
  doctor: async (opts, io) => (await import('./commands/doctor.js')).doctorCommand(opts, io),
  gc: async (opts, io) => (await import('./commands/gc.js')).gcCommand(opts, io),
  images: async (opts, io) => (await import('./commands/images.js')).imagesCommand(opts, io),
  merge: async (opts, io) => (await import('./commands/merge.js')).mergeCommand(opts, io),
};
