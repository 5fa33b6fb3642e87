/**
 * The bootpath command line. Returns the process exit code; never lets a user error escape as a
 * stack trace (README "Exit codes").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BootpathError, ExitCode, HostNotCapableError, InputError } from '../../core/errors.js';
import { cacheDir, repoRoot } from '../../core/paths.js';
import { shardPlans } from '../run/shard.js';
import { listScenarioFiles, loadScenarioFiles } from '../scenario/load.js';
import { loadContext } from '../scenario/questions.js';
import { parseCli, USAGE, type CliOptions } from './args.js';
import { processIo, type CliIo } from './io.js';
import { printPlan } from './commands/dry-run.js';
import { printPlanWithProvisioning } from './commands/show-provisioning.js';
import { listScenarios } from './commands/list.js';
import { schemaCommand } from './commands/schema.js';
import { selectScenarios } from './commands/select.js';
import { validateCommand } from './commands/validate.js';
import { commandHandlers } from './registry.js';

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    const opts = parseCli(argv);
    return await dispatch(opts, io);
  } catch (err) {
    return reportError(err, io);
  }
}

async function dispatch(opts: CliOptions, io: CliIo): Promise<number> {
  switch (opts.command) {
    case 'help':
      io.stdout(USAGE);
      return ExitCode.ok;
    case 'version': {
      const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
      io.stdout(`bootpath ${pkg.version}\n`);
      return ExitCode.ok;
    }
    case 'validate':
      return validateCommand(opts.positionals, io);
    case 'schema':
      return schemaCommand(opts, io);
    case 'run':
      return runOrPlan(opts, io);
    default: {
      const handler = commandHandlers[opts.command];
      if (!handler) throw new InputError(`'${opts.command}' is not available in this build`);
      return handler(opts, io);
    }
  }
}

async function runOrPlan(opts: CliOptions, io: CliIo): Promise<number> {
  const ctx = await loadContext();
  if (opts.list) {
    return listScenarios(await loadScenarioFiles(await listScenarioFiles(), ctx), io, opts.json);
  }
  const scenarios = await selectScenarios(opts, ctx);
  const plans = scenarios.flatMap((s) => s.plans);
  if (opts.dryRun) {
    const checks = { insecureNoChecksum: opts.insecureNoChecksum, offline: opts.offline, cacheDir: cacheDir() };
    const shard = shardPlans(plans, opts.shard);
    return opts.showProvisioning ? printPlanWithProvisioning(shard, io, opts.json, checks) : printPlan(shard, io, opts.json, checks);
  }
  const run = commandHandlers.run;
  if (!run) throw new InputError('running scenarios is not available in this build; use --dry-run');
  return run(opts, io, plans);
}

export function reportError(err: unknown, io: CliIo): number {
  if (err instanceof InputError) {
    io.stderr(`${err.problems.length > 0 ? `${err.message}:\n` : ''}${err.render()}\n`);
    return err.exitCode;
  }
  if (err instanceof HostNotCapableError) {
    io.stderr(`host not capable: ${err.message}\n  remedy: ${err.remedy}\n`);
    return err.exitCode;
  }
  if (err instanceof BootpathError) {
    io.stderr(`${err.message}\n`);
    return err.exitCode;
  }
  // Anything else is a bug in bootpath, not something the user did.
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr(`bootpath: internal error: ${e.message}\n${process.env.BOOTPATH_DEBUG ? `${e.stack}\n` : '(set BOOTPATH_DEBUG=1 for the stack trace)\n'}`);
  return ExitCode.failed;
}
