/**
 * The exact guest command lines for rpm-ostree, bootc and update steps, as argv arrays. They are
 * quoted for the guest's shell by GuestSession.execArgv, so scenario values never pass through a
 * shell on the host and are never re-parsed in the guest.
 *
 * The rpm-ostree forms follow what the machine-config-daemon runs (reference §1.1), so a scenario
 * exercises the MCD's real command lines.
 */
import type { BootcStepDef, RpmOstreeStepDef, UpdateStepDef } from '../scenario/schema.js';

export interface GuestCommand {
  argv: string[];
  /** The command reboots the guest by itself (`--reboot`, `--apply`): treat it as a reboot trigger. */
  reboots: boolean;
}

export function rpmOstreeCommand(step: RpmOstreeStepDef): GuestCommand {
  const argv = ['rpm-ostree'];
  const s = step as Record<string, unknown>;
  const list = (key: string) => (s[key] as string[] | undefined) ?? [];
  switch (step['rpm-ostree']) {
    case 'install':
    case 'uninstall':
      argv.push(step['rpm-ostree'], ...list('packages'));
      break;
    case 'update':
      argv.push('update', ...list('install').map((p) => `--install=${p}`), ...list('uninstall').map((p) => `--uninstall=${p}`));
      break;
    case 'kargs':
      // MCD order: delete the old ones, then append the new ones (OCPBUGS-75894).
      argv.push(
        'kargs',
        ...list('delete-if-present').map((k) => `--delete-if-present=${k}`),
        ...list('delete').map((k) => `--delete=${k}`),
        ...list('replace').map((k) => `--replace=${k}`),
        ...list('append').map((k) => `--append=${k}`),
        ...list('append-if-missing').map((k) => `--append-if-missing=${k}`),
      );
      break;
    case 'rebase':
      argv.push('rebase', '--experimental', `ostree-unverified-registry:${String(s.image)}`);
      break;
    case 'rollback':
    case 'reset':
      argv.push(step['rpm-ostree']);
      break;
    case 'cleanup':
      argv.push('cleanup', ...(s.pending ? ['-p'] : []), ...(s.rollback ? ['-r'] : []));
      break;
    case 'override-remove':
      argv.push('override', 'remove', ...list('packages'));
      break;
    case 'override-reset':
      argv.push('override', 'reset', ...list('packages'));
      break;
    case 'status':
      argv.push('status', '--json');
      break;
  }
  const reboots = s.reboot === true && step['rpm-ostree'] !== 'status';
  if (reboots) argv.push('--reboot');
  return { argv, reboots };
}

export function bootcCommand(step: BootcStepDef): GuestCommand {
  const s = step as Record<string, unknown>;
  const apply = s.apply === true;
  switch (step.bootc) {
    case 'switch':
      return {
        argv: [
          'bootc',
          'switch',
          ...(s.transport ? [`--transport=${String(s.transport)}`] : []),
          ...(s.retain ? ['--retain'] : []),
          ...(apply ? ['--apply'] : []),
          String(s.image),
        ],
        reboots: apply,
      };
    case 'upgrade':
      return { argv: ['bootc', 'upgrade', ...(s.check ? ['--check'] : []), ...(apply && !s.check ? ['--apply'] : [])], reboots: apply && !s.check };
    case 'rollback':
      return { argv: ['bootc', 'rollback', ...(apply ? ['--apply'] : [])], reboots: apply };
    case 'status':
      return { argv: ['bootc', 'status', '--format=json'], reboots: false };
    default:
      throw new Error(`internal: unknown bootc operation ${String((step as { bootc: unknown }).bootc)}`);
  }
}

/** One OS update by either driver: the feature-gate comparison (Q5). */
export function updateCommand(step: UpdateStepDef): GuestCommand {
  const { via, image, apply } = step.update;
  if (via === 'rpm-ostree') {
    return rpmOstreeCommand({ 'rpm-ostree': 'rebase', image, reboot: apply === true });
  }
  return bootcCommand({ bootc: 'switch', image, apply: apply === true });
}
