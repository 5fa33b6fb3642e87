/**
 * Every Ignition config bootpath generates is checked with the real validator (`ignition-validate`
 * from coreos/ignition; Debian package `ignition`) before a machine boots with it, so a config the
 * guest's Ignition would reject fails here with the field named, not as a guest that never gets SSH.
 * Without the validator the check is skipped with a notice: it is a safety net, not a requirement.
 */
import { InfraError } from '../../core/errors.js';
import { runCommand, whichBinary } from '../exec.js';

export type IgnitionValidation = { status: 'valid'; validator: string } | { status: 'skipped'; notice: string };

export const VALIDATOR = 'ignition-validate';
export const VALIDATOR_INSTALL = 'sudo apt-get install -y ignition';

/**
 * Validate `config` (read from stdin by the validator: nothing is written to disk). `what` names
 * the machine for the message. Throws InfraError('machine-start') naming each invalid field.
 */
export async function validateIgnitionConfig(config: Record<string, unknown>, what: string): Promise<IgnitionValidation> {
  const bin = await whichBinary(VALIDATOR);
  if (!bin) return { status: 'skipped', notice: `${VALIDATOR} is not installed; the Ignition config for ${what} was not validated (install: ${VALIDATOR_INSTALL})` };
  const res = await runCommand(bin, ['-'], { input: JSON.stringify(config), timeoutMs: 30_000 });
  const version = await validatorVersion(bin);
  if (res.code === 0 && !res.signal) return { status: 'valid', validator: version };
  const output = `${res.stdout}\n${res.stderr}`.trim() || (res.signal ? `killed by ${res.signal}` : `exit code ${String(res.code)}`);
  throw new InfraError(`the Ignition config for ${what} is not valid (${version}):\n${describeProblems(output, config)}`, 'machine-start');
}

let cachedVersion: string | null = null;
async function validatorVersion(bin: string): Promise<string> {
  if (cachedVersion) return cachedVersion;
  const res = await runCommand(bin, ['--version'], { timeoutMs: 10_000 });
  cachedVersion = res.stdout.trim() || VALIDATOR;
  return cachedVersion;
}

/**
 * The validator names a JSON path (`error at $.storage.files.0.path, line 1 col 61: …`); the
 * config is one line, so the path is what locates the problem. Add the file or unit it belongs to.
 */
export function describeProblems(output: string, config: Record<string, unknown>): string {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const m = /^(?:error|warning) at (\$(?:\.[A-Za-z0-9_]+)*)/.exec(line);
      const entry = m ? entryName(m[1]!, config) : null;
      return `  ${line}${entry ? ` (${entry})` : ''}`;
    })
    .join('\n');
}

function entryName(jsonPath: string, config: Record<string, unknown>): string | null {
  const m = /^\$\.(storage\.files|systemd\.units|passwd\.users)\.(\d+)/.exec(jsonPath);
  if (!m) return null;
  let node: unknown = config;
  for (const key of [...m[1]!.split('.'), m[2]!]) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  if (!node || typeof node !== 'object') return null;
  const rec = node as Record<string, unknown>;
  const name = typeof rec.path === 'string' ? rec.path : typeof rec.name === 'string' ? rec.name : null;
  return name ? `${m[1]!.split('.')[1]!.replace(/s$/, '')} ${name}` : null;
}
