import type { ImageSourceDef } from './catalog/schema.js';

/** One line saying where an image comes from, for plans and reports. */
export function describeImageSource(source: ImageSourceDef): string {
  switch (source.kind) {
    case 'coreos-stream':
      return `CoreOS stream '${source.stream}' (${source['metadata-url'] ?? `https://builds.coreos.fedoraproject.org/streams/${source.stream}.json`}), ${source.format ?? 'qcow2.xz'}, sha256-verified${source.keyring ? ' and signature-checked' : ''}`;
    case 'url':
      return `${source.url}${source.sha256 ? ` (sha256 ${source.sha256.slice(0, 12)}…)` : ' (no sha256 pinned)'}`;
    case 'local':
      return `local disk ${source.path}`;
    case 'oci':
      return `bootc image ${source.image} → qcow2 via ${source.builder ?? 'bootc-image-builder'}`;
    case 'testbed':
      return 'built locally from Debian packages (testbed)';
  }
}
