/**
 * `copy: {src, dest, direction, mode}`: a file to the guest (src relative to the scenario file) or
 * from it (dest relative to the run's `files/` folder). Both host-side paths are held to their
 * folder by their resolved real paths, so `../`, absolute paths and symlinks cannot reach other
 * host files (a private key, /etc/shadow, /dev/zero).
 */
import { promises as fs, lstatSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { stepSchema } from '../scenario/schema-parts.js';
import { exec, finish } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepProblem, type StepOutcome } from './types.js';

export const CopyStep = stepSchema(
  'copy',
  {
    copy: Type.Object(
      {
        src: Type.String({ minLength: 1 }),
        dest: Type.String({ minLength: 1 }),
        direction: Type.Optional(Type.Union([Type.Literal('to-guest'), Type.Literal('from-guest')])),
        mode: Type.Optional(Type.String({ pattern: '^0?[0-7]{3,4}$' })),
      },
      { additionalProperties: false },
    ),
  },
  'Copy a file to the guest (src relative to the scenario file) or from it (dest relative to the run\'s results).',
);
export type CopyStepDef = Static<typeof CopyStep>;

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Why `src` cannot be sent from the scenario folder `baseDir`, or null when it can. `mayBeMissing`:
 * at load time a source may not exist yet (a pull secret the user adds before running an entitled
 * scenario); it must still stay inside the folder. At run time it must exist.
 */
export function sourceProblem(baseDir: string, src: string, mayBeMissing = false): string | null {
  const given = path.resolve(baseDir, src);
  if (!inside(path.resolve(baseDir), given)) return `copy source '${src}' is outside the scenario's folder (it is relative to it)`;
  let real: string;
  try {
    real = realpathSync(given);
  } catch {
    return mayBeMissing && !lstatOrNull(given) ? null : `copy source '${src}' does not exist (it is relative to the scenario's folder)`;
  }
  if (!inside(realpathSync(baseDir), real)) return `copy source '${src}' resolves to ${real}, outside the scenario's folder`;
  if (/^\/(dev|proc|sys)(\/|$)/.test(real)) return `copy source '${src}' resolves to ${real}, a device or kernel file`;
  if (!statSync(real).isFile()) return `copy source '${src}' is not a regular file`;
  return null;
}

function lstatOrNull(p: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** Where a from-guest copy lands under `filesDir`, or null when `dest` leaves it. */
export function destinationIn(filesDir: string, dest: string): string | null {
  const local = path.resolve(filesDir, dest);
  return inside(filesDir, local) ? local : null;
}

function check(def: CopyStepDef, ctx: { baseDir: string }): StepProblem[] {
  const { src, dest, direction = 'to-guest' } = def.copy;
  if (direction === 'to-guest') {
    const problem = sourceProblem(ctx.baseDir, src, true);
    return problem ? [{ path: ['copy', 'src'], message: problem }] : [];
  }
  if (!destinationIn(path.join(path.sep, 'results', 'files'), dest)) {
    return [{ path: ['copy', 'dest'], message: `copy destination '${dest}' leaves the run's files/ folder (it is relative to it)` }];
  }
  return [];
}

export const copyKind = defineStepKind({
  kind: 'copy',
  schema: CopyStep,
  check,
  describe: (def) => `copy ${def.copy.direction === 'from-guest' ? `guest:${def.copy.src} → ${def.copy.dest}` : `${def.copy.src} → guest:${def.copy.dest}`}`,
  defaultTimeoutMs: (t) => t.osOperationMs,
  weight: () => WEIGHTS.other,
  changesState: true,
  expectFailure: false,
  async run(def, ctx): Promise<StepOutcome> {
    const { src, dest, direction = 'to-guest', mode } = def.copy;
    const session = await ctx.machine.session(ctx.signal);
    if (direction === 'to-guest') {
      // Checked again: the file may have changed between validation and this step.
      const problem = sourceProblem(ctx.env.plan.baseDir, src);
      if (problem) return finish(ctx, { ...ctx.base }, false, problem);
      const local = realpathSync(path.resolve(ctx.env.plan.baseDir, src));
      ctx.env.log(`copy ${local} → guest:${dest}`);
      await session.upload(local, dest);
      if (mode) {
        const r = await exec(ctx, ['chmod', mode, '--', dest], false);
        if (r.exitCode !== 0) return finish(ctx, { ...ctx.base }, false, `chmod ${mode} on the copied file failed (exit ${r.exitCode ?? r.signal})`);
      }
      return finish(ctx, { ...ctx.base }, true, undefined);
    }
    const filesDir = path.join(ctx.env.runDir, 'files');
    const local = destinationIn(filesDir, dest);
    if (!local) return finish(ctx, { ...ctx.base }, false, `copy destination '${dest}' leaves the run's files/ folder`);
    await fs.mkdir(path.dirname(local), { recursive: true });
    // The folder as it exists now, links resolved, must still be inside files/.
    if (!inside(await fs.realpath(filesDir), path.join(await fs.realpath(path.dirname(local)), path.basename(local)))) {
      return finish(ctx, { ...ctx.base }, false, `copy destination '${dest}' resolves outside the run's files/ folder`);
    }
    ctx.env.log(`copy guest:${src} → ${local}`);
    await session.download(src, local);
    return finish(ctx, { ...ctx.base }, true, undefined);
  },
});
