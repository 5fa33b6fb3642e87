/** Turns the command line's scenario names, paths, --all and --tag into loaded scenarios. */
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { InputError } from '../../../core/errors.js';
import { didYouMean } from '../../../core/did-you-mean.js';
import { listScenarioFiles, loadScenarioFiles, scenariosDir, type LoadContext, type LoadedScenario } from '../../scenario/load.js';

export function looksLikePath(arg: string): boolean {
  return arg.includes('/') || arg.endsWith('.yaml') || arg.endsWith('.yml');
}

export async function resolveScenarioFiles(args: string[]): Promise<string[]> {
  const available = await listScenarioFiles();
  const names = available.map((f) => path.basename(f).replace(/\.ya?ml$/, ''));
  const files: string[] = [];
  for (const arg of args) {
    if (looksLikePath(arg)) {
      // Refuse what cannot be a scenario before reading a byte of it (a scenario is <name>.yaml).
      if (!/\.ya?ml$/.test(arg)) throw new InputError(`not a scenario file: ${arg} (scenario files are YAML files named <name>.yaml or <name>.yml)`);
      const file = path.resolve(arg);
      const st = await fs.stat(file).catch(() => null);
      if (!st) throw new InputError(`no such scenario file: ${arg}`);
      if (!st.isFile()) throw new InputError(`not a scenario file: ${arg} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`);
      files.push(file);
      continue;
    }
    const i = names.indexOf(arg);
    if (i < 0) {
      const hint = didYouMean(arg, names);
      throw new InputError(`unknown scenario '${arg}'${hint ? ` (did you mean '${hint}'?)` : ''}; see 'npm run scenario -- --list' (scenarios live in ${path.relative(process.cwd(), scenariosDir) || scenariosDir}/)`);
    }
    files.push(available[i]!);
  }
  return [...new Set(files)];
}

export async function selectScenarios(
  opts: { positionals: string[]; all: boolean; tags: string[] },
  ctx: LoadContext,
): Promise<LoadedScenario[]> {
  if (opts.positionals.length === 0 && !opts.all && opts.tags.length === 0) {
    throw new InputError("which scenario? name one (e.g. 'npm run scenario smoke'), or use --all, --tag T or --list");
  }
  const files = opts.positionals.length > 0 ? await resolveScenarioFiles(opts.positionals) : await listScenarioFiles();
  const loaded = await loadScenarioFiles(files, ctx);
  if (opts.tags.length === 0) return loaded;
  const tagged = loaded.filter((s) => opts.tags.some((t) => (s.scenario.tags ?? []).includes(t)));
  if (tagged.length === 0) throw new InputError(`no scenario has tag ${opts.tags.map((t) => `'${t}'`).join(' or ')}`);
  return tagged;
}
