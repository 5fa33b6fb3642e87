import path from 'node:path';
import { InputError, type LocatedProblem } from '../../../core/errors.js';
import { catalogDirs, readCatalog, renderCatalogNotice, type Catalog } from '../../../images/catalog.js';
import { listScenarioFiles, loadScenarioFiles } from '../../scenario/load.js';
import { loadQuestions } from '../../scenario/questions.js';
import type { CliIo } from '../io.js';
import { resolveScenarioFiles } from './select.js';

/**
 * Validate every scenario and image (no arguments) or the given scenario files. All problems in all
 * files are printed; exit 0 only when everything is valid.
 */
export async function validateCommand(files: string[], io: CliIo): Promise<number> {
  const problems: LocatedProblem[] = [];
  const collect = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      problems.push(...(err.problems.length > 0 ? err.problems : [{ file: '(command line)', line: 1, column: 1, message: err.message }]));
      return undefined;
    }
  };
  // An invalid user entry is a problem here, but the valid entries still check the scenarios.
  const read = await collect(() => readCatalog());
  const catalog: Catalog = read?.catalog ?? new Map();
  for (const n of read?.notices ?? []) {
    if (n.kind === 'invalid') problems.push(...n.problems);
    else io.stderr(renderCatalogNotice(n));
  }
  const questions = (await collect(() => loadQuestions())) ?? [];
  const ctx = { catalog, questionIds: new Set(questions.map((q) => q.id)) };
  const targets = files.length > 0 ? await resolveScenarioFiles(files) : await listScenarioFiles();
  const loaded = (await collect(() => loadScenarioFiles(targets, ctx))) ?? [];

  if (problems.length > 0) {
    throw new InputError(`${problems.length} problem${problems.length === 1 ? '' : 's'} found`, problems);
  }
  const runs = loaded.reduce((n, s) => n + s.plans.length, 0);
  const what = files.length > 0 ? `${loaded.length} scenario file(s)` : `${loaded.length} scenarios (${runs} runs), ${catalog.size} images (${catalogDirs().filter((d) => d).map((d) => path.relative(process.cwd(), d) || d)[0]}), ${questions.length} questions`;
  io.stdout(`valid: ${what}\n`);
  return 0;
}
