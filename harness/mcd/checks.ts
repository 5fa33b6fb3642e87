/**
 * The daemon's judgement of one command result, as the plan's Check describes it. Pure: the step
 * kind runs the command and hands the result here; the message is the daemon's own error text
 * (Go's %v of a []string is `[a b]`) so a record reads like the MCD's log.
 */
import { StateParseError } from '../state/json.js';
import { parseRpmOstreeStatus } from '../state/rpm-ostree.js';
import { daemonView, type GoTypes } from './daemon-view.js';
import { imageFromOstreeImageReference, versionHasFeature } from './go-ports.js';
import type { Check } from './plan.js';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type Verdict =
  /** The daemon carries on. */
  | { verdict: 'pass'; message: string }
  /** The daemon returns this error. */
  | { verdict: 'fail'; message: string }
  /** The command failed and the daemon logs it and carries on. */
  | { verdict: 'ignored'; message: string };

const goList = (xs: readonly string[]): string => `[${xs.join(' ')}]`;
const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';

/** The booted image URL GetBootedOSImageURL derives from `rpm-ostree status --json`. */
export function bootedImageFromRpmOstree(stdout: string): string {
  const booted = parseRpmOstreeStatus(stdout).booted;
  if (!booted) throw new StateParseError('rpm-ostree status: no booted deployment');
  let url = '';
  const custom = booted.customOrigin?.[0];
  if (custom?.startsWith('pivot://')) url = custom.slice('pivot://'.length);
  if (booted.containerImageReference) {
    const image = imageFromOstreeImageReference(booted.containerImageReference);
    if (image === null) throw new StateParseError(`cannot parse container-image-reference ${JSON.stringify(booted.containerImageReference)}`);
    url = image;
  }
  return url;
}

export function evaluateCheck(check: Check, result: CommandResult, goTypes: GoTypes): Verdict {
  if (result.exitCode !== 0) {
    const message = `exit ${result.exitCode}: ${firstLine(result.stderr) || firstLine(result.stdout) || '(no output)'}`;
    if (check.kind === 'failure-ignored') return { verdict: 'ignored', message };
    // rpm -q: exit 1 means "not installed", which verifyExtensionPackages collects rather than fails on.
    if (check.kind === 'rpm-installed' && result.exitCode === 1) return { verdict: 'fail', message: `package ${check.package} is not installed` };
    return { verdict: 'fail', message };
  }
  try {
    switch (check.kind) {
      case 'succeeds':
      case 'failure-ignored':
      case 'reads':
        return { verdict: 'pass', message: 'exit 0' };
      case 'rpm-installed':
        return { verdict: 'pass', message: `${check.package} is installed` };
      case 'features-include':
        // Not an error for the daemon: without the feature it takes the via-container path.
        return { verdict: 'pass', message: versionHasFeature(result.stdout, check.feature) ? `Features include ${check.feature}` : `Features lack ${check.feature}: the daemon updates via a container` };
      case 'kargs-include': {
        const found = new Set(result.stdout.trim().split(' '));
        const missing = check.kargs.filter((k) => !found.has(k));
        return missing.length > 0 ? { verdict: 'fail', message: `missing expected kernel arguments: ${goList(missing)}` } : { verdict: 'pass', message: 'all MachineConfig kargs present' };
      }
      case 'staged-requested-packages': {
        const staged = parseRpmOstreeStatus(result.stdout).staged;
        if (!staged) return { verdict: 'fail', message: 'no staged deployment found after applying extensions' };
        const missing = check.packages.filter((p) => !staged.requestedPackages.includes(p));
        return missing.length > 0 ? { verdict: 'fail', message: `the following extension packages are missing from the staged deployment: ${goList(missing)}` } : { verdict: 'pass', message: `all ${check.packages.length} extension packages are staged` };
      }
      case 'booted-image': {
        let have: string;
        if (check.from === 'rpm-ostree-status') {
          have = bootedImageFromRpmOstree(result.stdout);
        } else {
          const info = daemonView(JSON.parse(result.stdout) as unknown, goTypes).getBootedImageInfo;
          if (info.kind === 'panic') return { verdict: 'fail', message: `the daemon panics: ${info.message} (${info.at})` };
          if (info.kind === 'error') return { verdict: 'fail', message: info.message };
          have = info.value.OSImageURL;
        }
        return have === check.image ? { verdict: 'pass', message: `booted into ${have}` } : { verdict: 'fail', message: `expected target osImageURL ${JSON.stringify(check.image)}, have ${JSON.stringify(have)}` };
      }
    }
  } catch (err) {
    if (err instanceof StateParseError || err instanceof SyntaxError) return { verdict: 'fail', message: `cannot read the output: ${err.message}` };
    throw err;
  }
}
