/**
 * The image catalog: every image a scenario may name. Entries ship in images/catalog/*.yaml; users
 * add their own (a local qcow2, a URL with sha256) in $XDG_CONFIG_HOME/bootpath/images/*.yaml or
 * BOOTPATH_CATALOG_DIR, without writing code.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError, type LocatedProblem } from '../core/errors.js';
import { loadChecked, sortProblems } from '../core/load-checked.js';
import { repoRoot } from '../core/paths.js';
import { CatalogEntrySchema, provisioningProblem, type CatalogEntry } from './catalog/schema.js';

export interface CatalogImage {
  entry: CatalogEntry;
  /** The file it came from (display form, relative to the repo when inside it). */
  file: string;
}

export type Catalog = Map<string, CatalogImage>;

export function catalogDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [path.join(repoRoot, 'images', 'catalog')];
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  dirs.push(path.join(config, 'bootpath', 'images'));
  if (env.BOOTPATH_CATALOG_DIR) dirs.push(path.resolve(env.BOOTPATH_CATALOG_DIR));
  return dirs;
}

export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

async function yamlFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort().map((n) => path.join(dir, n));
}

/** Load every catalog entry; all problems in all files are reported together. */
export async function loadCatalog(dirs: string[] = catalogDirs()): Promise<Catalog> {
  const catalog: Catalog = new Map();
  const problems: LocatedProblem[] = [];
  for (const dir of dirs) {
    for (const file of await yamlFilesIn(dir)) {
      const shown = displayPath(file);
      try {
        const { value, source } = await loadChecked(file, shown, CatalogEntrySchema);
        const base = path.basename(file).replace(/\.ya?ml$/, '');
        if (value.name !== base) {
          problems.push({ ...source.locate(['name']), message: `name '${value.name}' must equal the file's base name '${base}'` });
          continue;
        }
        const badProvisioning = provisioningProblem(value);
        if (badProvisioning) {
          problems.push({ ...source.locate(['provisioning']), message: badProvisioning });
          continue;
        }
        const previous = catalog.get(value.name);
        if (previous) {
          problems.push({ ...source.locate(['name']), message: `duplicate image name '${value.name}' (also defined in ${previous.file})` });
          continue;
        }
        catalog.set(value.name, { entry: value, file: shown });
      } catch (err) {
        if (err instanceof InputError) problems.push(...err.problems);
        else throw err;
      }
    }
  }
  if (problems.length > 0) throw new InputError('invalid image catalog', sortProblems(problems));
  return catalog;
}
