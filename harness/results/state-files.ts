/**
 * The state snapshots of finished runs, read back from their state-<n>.json files. A live run's
 * report gets them as events; this is for reports built afterwards from results directories
 * (`merge`), where the files are all there is.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { RunSummary, StateSnapshot } from './model.js';
import type { StatesOf } from './run-log.js';

export async function readStateSnapshots(runFolder: string): Promise<StateSnapshot[]> {
  const names = await fs.readdir(runFolder).then((all) => all.filter((n) => /^state-\d+\.json$/.test(n)), () => []);
  const states: StateSnapshot[] = [];
  for (const n of names) {
    try {
      states.push(JSON.parse(await fs.readFile(path.join(runFolder, n), 'utf8')) as StateSnapshot);
    } catch {
      // a file cut short by a kill: the other snapshots still tell the story
    }
  }
  return states.sort((a, b) => a.index - b.index);
}

/** Reads every run's snapshots up front (run.dir is relative to `resultsDir`). */
export async function statesFromFiles(resultsDir: string, summary: RunSummary): Promise<StatesOf> {
  const byRun = new Map<string, StateSnapshot[]>();
  for (const r of summary.runs) if (r.dir) byRun.set(`${r.attempts} ${r.id}`, await readStateSnapshots(path.join(resultsDir, r.dir)));
  return (run) => byRun.get(`${run.attempts} ${run.id}`) ?? [];
}
