/**
 * The published editor schemas are generated from the TypeBox definitions and checked in;
 * `schema --check` (run by the tests) fails when a checked-in copy is stale.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../../core/errors.js';
import { writeFileAtomic } from '../../../core/atomic.js';
import { repoRoot } from '../../../core/paths.js';
import { CatalogEntrySchema } from '../../../images/catalog/schema.js';
import { RunSummarySchema, StepResultSchema } from '../../results/format.js';
import { ScenarioSchema, toPublishedSchema } from '../../scenario/schema.js';
import type { CliIo } from '../io.js';

export const publishedSchemas = [
  { file: path.join(repoRoot, 'scenarios', 'schema.json'), schema: ScenarioSchema },
  { file: path.join(repoRoot, 'images', 'catalog', 'schema.json'), schema: CatalogEntrySchema },
  // The results format, for dashboards built on summary.json and steps.jsonl.
  { file: path.join(repoRoot, 'harness', 'results', 'summary.schema.json'), schema: RunSummarySchema },
  { file: path.join(repoRoot, 'harness', 'results', 'step.schema.json'), schema: StepResultSchema },
];

export function renderSchema(schema: object): string {
  return JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...(toPublishedSchema(schema as never) as object) }, null, 2) + '\n';
}

/** Files whose checked-in content differs from what the definitions generate. */
export async function staleSchemas(): Promise<string[]> {
  const stale: string[] = [];
  for (const { file, schema } of publishedSchemas) {
    const current = await fs.readFile(file, 'utf8').catch(() => '');
    if (current !== renderSchema(schema)) stale.push(path.relative(repoRoot, file));
  }
  return stale;
}

export async function schemaCommand(opts: { write: boolean; check: boolean }, io: CliIo): Promise<number> {
  if (opts.write) {
    for (const { file, schema } of publishedSchemas) {
      await writeFileAtomic(file, renderSchema(schema));
      io.stdout(`wrote ${path.relative(repoRoot, file)}\n`);
    }
    return 0;
  }
  if (opts.check) {
    const stale = await staleSchemas();
    if (stale.length > 0) throw new InputError(`stale generated schema: ${stale.join(', ')}; run 'npm run schema' and commit the result`);
    io.stdout('schemas are up to date\n');
    return 0;
  }
  io.stdout(renderSchema(ScenarioSchema));
  return 0;
}
