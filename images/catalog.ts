/**
 * The image catalog: every image a scenario may name. Entries ship in images/catalog/*.yaml; users
 * add their own (a local qcow2, a URL with sha256) in $XDG_CONFIG_HOME/bootpath/images/*.yaml or
 * BOOTPATH_CATALOG_DIR, without writing code.
 *
 * The directories are layers: a later one overrides an earlier one entry by entry (a user file
 * `rhcos-4.x.yaml` replaces the shipped entry of that name, which is how a user pins a checksum).
 * A broken shipped file is a bug in bootpath and stops every command; a broken user file only
 * leaves its own entry out, so the user's other entries and the shipped ones stay usable.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatLocation, InputError, type LocatedProblem } from '../core/errors.js';
import { loadChecked, sortProblems } from '../core/load-checked.js';
import { repoRoot } from '../core/paths.js';
import { CatalogEntrySchema, provisioningProblem, type CatalogEntry } from './catalog/schema.js';

export interface CatalogImage {
  entry: CatalogEntry;
  /** The file it came from (display form, relative to the repo when inside it). */
  file: string;
}

export type Catalog = Map<string, CatalogImage>;

/** Something a user should know about their catalog files; none of it stops a command. */
export type CatalogNotice =
  | { kind: 'override'; name: string; file: string; replaces: string }
  | {
      kind: 'invalid';
      /** The file's base name: the entry it was meant to define. */
      name: string;
      file: string;
      problems: LocatedProblem[];
      /** The entry of that name from an earlier layer, left out too: the user meant to replace it. */
      withholds: string | null;
    };

export interface CatalogLoad {
  catalog: Catalog;
  notices: CatalogNotice[];
}

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

type EntryRead = { ok: true; image: CatalogImage } | { ok: false; problems: LocatedProblem[] };

async function readEntry(file: string): Promise<EntryRead> {
  const shown = displayPath(file);
  try {
    const { value, source } = await loadChecked(file, shown, CatalogEntrySchema);
    const base = baseName(file);
    if (value.name !== base) return { ok: false, problems: [{ ...source.locate(['name']), message: `name '${value.name}' must equal the file's base name '${base}'` }] };
    const badProvisioning = provisioningProblem(value);
    if (badProvisioning) return { ok: false, problems: [{ ...source.locate(['provisioning']), message: badProvisioning }] };
    return { ok: true, image: { entry: value, file: shown } };
  } catch (err) {
    if (err instanceof InputError) return { ok: false, problems: err.problems.length > 0 ? err.problems : [{ file: shown, line: 1, column: 1, message: err.message }] };
    throw err;
  }
}

const baseName = (file: string) => path.basename(file).replace(/\.ya?ml$/, '');

/**
 * Every layer in order; returns the merged catalog and what the user should be told. Throws only
 * for problems in the first layer (the shipped entries).
 */
export async function readCatalog(dirs: string[] = catalogDirs()): Promise<CatalogLoad> {
  const catalog: Catalog = new Map();
  const notices: CatalogNotice[] = [];
  const shippedProblems: LocatedProblem[] = [];
  for (const [layer, dir] of dirs.entries()) {
    const seenInLayer = new Map<string, string>();
    for (const file of await yamlFilesIn(dir)) {
      const name = baseName(file);
      const read = await readEntry(file);
      const sameLayer = seenInLayer.get(name);
      const problems = !read.ok
        ? read.problems
        : sameLayer
          ? [{ file: read.image.file, line: 1, column: 1, message: `duplicate image name '${name}' (also defined in ${sameLayer}, in the same directory)` }]
          : [];
      if (problems.length > 0) {
        if (layer === 0) {
          shippedProblems.push(...problems);
          continue;
        }
        const earlier = catalog.get(name);
        if (earlier && !sameLayer) catalog.delete(name);
        notices.push({ kind: 'invalid', name, file: displayPath(file), problems, withholds: earlier && !sameLayer ? earlier.file : null });
        continue;
      }
      if (!read.ok) continue;
      seenInLayer.set(name, read.image.file);
      const earlier = catalog.get(name);
      if (earlier) notices.push({ kind: 'override', name, file: read.image.file, replaces: earlier.file });
      catalog.set(name, read.image);
    }
  }
  if (shippedProblems.length > 0) throw new InputError('invalid image catalog', sortProblems(shippedProblems));
  return { catalog, notices };
}

/** One notice as the lines a user reads on stderr. */
export function renderCatalogNotice(n: CatalogNotice): string {
  if (n.kind === 'override') return `note: image '${n.name}' comes from ${n.file} (it overrides ${n.replaces})\n`;
  const lines = n.problems.map((p) => `  ${formatLocation(p)}: ${p.message}`);
  const left = n.withholds ? `image '${n.name}' is unavailable until it is fixed (the entry in ${n.withholds} is not used in its place)` : `image '${n.name}' is left out`;
  return `warning: ignoring the invalid catalog file ${n.file}; ${left}; the other images are usable:\n${lines.join('\n')}\n`;
}

/**
 * The catalog for commands that run or plan scenarios: notices go to `report` (stderr by default)
 * and never stop the command.
 */
export async function loadCatalog(dirs: string[] = catalogDirs(), report: (text: string) => void = (t) => process.stderr.write(t)): Promise<Catalog> {
  const { catalog, notices } = await readCatalog(dirs);
  for (const n of notices) report(renderCatalogNotice(n));
  return catalog;
}
