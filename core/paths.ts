import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bootpath runs from its checkout; scenarios and the catalog live there). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The bootpath cache: base images, the testbed build, downloaded artifacts.
 * BOOTPATH_CACHE_DIR wins, then $XDG_CACHE_HOME/bootpath, then ~/.cache/bootpath.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BOOTPATH_CACHE_DIR) return path.resolve(env.BOOTPATH_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(xdg, 'bootpath');
}

/** Where `bootpath gc` looks for pidfiles of machines a crashed run may have left behind. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BOOTPATH_STATE_DIR) return path.resolve(env.BOOTPATH_STATE_DIR);
  return path.join(cacheDir(env), 'state');
}
