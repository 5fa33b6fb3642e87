/** Names that end up in process titles, file names and libvirt domain names. */

/** [a-z0-9-] only, so names are safe in -name, file names, process titles and domain names. */
export function sanitizeName(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}
