/**
 * bootpath's own testbed image: delegated to the testbed builder, which has its own cache keyed by
 * its inputs. Provenance says `testbed: true` so no report mistakes its results for real bootc ones.
 */
import type { CatalogEntry } from '../catalog/schema.js';
import type { ResolvedImage, ResolveOptions } from '../provenance.js';
import { defaultFirmware } from './common.js';

export async function resolveTestbed(entry: CatalogEntry, opts: ResolveOptions): Promise<ResolvedImage> {
  // Imported lazily: the builder is large and only this source needs it.
  const { buildTestbed } = await import('../testbed/builder.js');
  const built = await buildTestbed({ cacheDir: opts.cacheDir, force: opts.force, log: opts.log, signal: opts.signal });
  return {
    name: entry.name,
    diskPath: built.diskPath,
    format: built.manifest.format,
    firmware: entry.firmware ?? built.manifest.firmware ?? defaultFirmware(entry),
    provenance: {
      image: entry.name,
      source: 'testbed',
      testbed: true,
      version: built.manifest.key,
      cacheHit: built.cacheHit,
      verifiedAt: built.manifest.builtAt,
    },
  };
}
