/**
 * `rpm-ostree: OP`: the rpm-ostree calls the machine-config-daemon makes, with the same command
 * lines (reference §1.1), so a scenario exercises the MCD's real invocations.
 */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { NonEmptyStrings, Strings, stepSchema } from '../scenario/schema-parts.js';
import { shJoin } from '../guest/quote.js';
import { optionLikeValues } from './option-like.js';
import { toolStep, type GuestCommand } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepProblem } from './types.js';

const op = <Op extends string, P extends TProperties>(name: Op, props: P, description: string) =>
  stepSchema(
    'rpm-ostree',
    {
      'rpm-ostree': Type.Literal(name),
      ...props,
      reboot: Type.Optional(Type.Boolean({ description: '--reboot: reboot into the new deployment; the step waits for the new boot' })),
    },
    description,
  );

export const RpmOstreeStep = Type.Union(
  [
    op('install', { packages: NonEmptyStrings('Packages to layer.') }, 'rpm-ostree install PACKAGES'),
    op('uninstall', { packages: NonEmptyStrings('Packages to remove from the layer.') }, 'rpm-ostree uninstall PACKAGES'),
    op(
      'update',
      {
        install: Type.Optional(Strings('--install packages (the MCO extensions path).')),
        uninstall: Type.Optional(Strings('--uninstall packages.')),
      },
      'rpm-ostree update [--install P] [--uninstall P]',
    ),
    op(
      'kargs',
      {
        append: Type.Optional(Strings('--append=K')),
        'append-if-missing': Type.Optional(Strings('--append-if-missing=K')),
        delete: Type.Optional(Strings('--delete=K')),
        'delete-if-present': Type.Optional(Strings('--delete-if-present=K')),
        replace: Type.Optional(Strings('--replace=K=V')),
      },
      'rpm-ostree kargs (read, or change with append/delete/replace)',
    ),
    op('rebase', { image: Type.String({ minLength: 1, description: 'Container image; rebased as ostree-unverified-registry:IMAGE.' }) }, 'rpm-ostree rebase ostree-unverified-registry:IMAGE'),
    op('rollback', {}, 'rpm-ostree rollback'),
    op(
      'cleanup',
      {
        pending: Type.Optional(Type.Boolean({ description: '-p: remove the pending (staged) deployment' })),
        rollback: Type.Optional(Type.Boolean({ description: '-r: remove the rollback deployment' })),
      },
      'rpm-ostree cleanup -p|-r',
    ),
    op('reset', {}, 'rpm-ostree reset'),
    op('override-remove', { packages: NonEmptyStrings('Base packages to remove.') }, 'rpm-ostree override remove PACKAGES'),
    op('override-reset', { packages: NonEmptyStrings('Overrides to reset.') }, 'rpm-ostree override reset PACKAGES'),
    op('status', {}, 'rpm-ostree status --json (the state is recorded)'),
  ],
  { 'x-action': 'rpm-ostree', 'x-discriminator': 'rpm-ostree' },
);
export type RpmOstreeStepDef = Static<typeof RpmOstreeStep>;

const KARG_KEYS = ['delete-if-present', 'delete', 'replace', 'append', 'append-if-missing'] as const;

export function rpmOstreeCommand(step: RpmOstreeStepDef): GuestCommand {
  const reboots = rebootsGuest(step);
  /** The verb and its options, in the order the guest sees them. */
  let verb: string[];
  /**
   * Package names: they come last, after `--` — GOption ends option parsing there (and strips the
   * `--` itself), so a package name is never read as an option, whatever the loader let through.
   */
  let packages: readonly string[] | null = null;
  switch (step['rpm-ostree']) {
    case 'install':
    case 'uninstall':
      verb = [step['rpm-ostree']];
      packages = step.packages;
      break;
    case 'update':
      verb = ['update', ...(step.install ?? []).map((p) => `--install=${p}`), ...(step.uninstall ?? []).map((p) => `--uninstall=${p}`)];
      break;
    case 'kargs':
      // MCD order: delete the old ones, then append the new ones (OCPBUGS-75894).
      verb = ['kargs', ...KARG_KEYS.flatMap((key) => (step[key] ?? []).map((k) => `--${key}=${k}`))];
      break;
    case 'rebase':
      verb = ['rebase', '--experimental', `ostree-unverified-registry:${step.image}`];
      break;
    case 'rollback':
    case 'reset':
      verb = [step['rpm-ostree']];
      break;
    case 'cleanup':
      verb = ['cleanup', ...(step.pending ? ['-p'] : []), ...(step.rollback ? ['-r'] : [])];
      break;
    case 'override-remove':
      verb = ['override', 'remove'];
      packages = step.packages;
      break;
    case 'override-reset':
      verb = ['override', 'reset'];
      packages = step.packages;
      break;
    case 'status':
      verb = ['status', '--json'];
      break;
  }
  const argv = ['rpm-ostree', ...verb, ...(reboots ? ['--reboot'] : []), ...(packages ? ['--', ...packages] : [])];
  return { argv, reboots };
}

function rebootsGuest(step: RpmOstreeStepDef): boolean {
  return step.reboot === true && step['rpm-ostree'] !== 'status';
}

function check(step: RpmOstreeStepDef): StepProblem[] {
  const problems: StepProblem[] = [];
  if (step['rpm-ostree'] === 'cleanup' && !step.pending && !step.rollback) {
    problems.push({ path: [], message: "rpm-ostree cleanup needs 'pending: true' (-p) and/or 'rollback: true' (-r)" });
  }
  if (step['rpm-ostree'] === 'update' && !step.install?.length && !step.uninstall?.length) {
    problems.push({ path: [], message: "rpm-ostree update needs 'install' and/or 'uninstall' packages (a plain update is an 'update' step)" });
  }
  if (step['rpm-ostree'] === 'status' && step.reboot) {
    problems.push({ path: ['reboot'], at: 'key', message: "'reboot' does not apply to rpm-ostree status" });
  }
  const keys = ['packages', 'install', 'uninstall', 'image', ...KARG_KEYS];
  problems.push(...optionLikeValues(step, keys, (key) => (key === 'image' ? 'image' : KARG_KEYS.some((k) => k === key) ? 'kernel argument' : 'package')));
  return problems;
}

export const rpmOstreeKind = defineStepKind({
  kind: 'rpm-ostree',
  schema: RpmOstreeStep,
  check,
  describe: (def) => shJoin(rpmOstreeCommand(def).argv),
  defaultTimeoutMs: (t, def) => t.osOperationMs + (rebootsGuest(def) ? t.goDownMs + t.bootMs + t.settleMs : 0),
  weight: (def) => WEIGHTS.tool + (rebootsGuest(def) ? WEIGHTS.boot : 0),
  changesState: true,
  expectFailure: true,
  run: (def, ctx) => toolStep(ctx, rpmOstreeCommand(def)),
});
