import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ResultsPaths } from './layout.js';

/** results/latest → the newest run: a relative symlink, swapped atomically so readers never see it missing. */
export async function pointLatest(paths: ResultsPaths): Promise<void> {
  const tmp = `${paths.latest}.${process.pid}.tmp`;
  await fs.rm(tmp, { force: true });
  await fs.symlink(path.basename(paths.runDir), tmp);
  await fs.rename(tmp, paths.latest);
}
