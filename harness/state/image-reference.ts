/**
 * ostree container image references, as written in deployment origins and shown by rpm-ostree
 * (`container-image-reference`). Grammar (ostree-ext `OstreeImageReference`):
 *
 *   ostree-unverified-registry:IMAGE                 registry, no signature check
 *   ostree-unverified-image:TRANSPORT:IMAGE          any transport, no signature check
 *   ostree-remote-registry:REMOTE:IMAGE              registry, signed via ostree remote REMOTE
 *   ostree-remote-image:REMOTE:TRANSPORT:IMAGE       any transport, signed via ostree remote REMOTE
 *   ostree-image-signed:TRANSPORT:IMAGE              any transport, containers-policy.json decides
 *
 * TRANSPORT is a containers-image transport: `registry:` or `docker://`, `containers-storage:`,
 * `oci:`, `oci-archive:`, `docker-archive:`, `dir:`.
 */

export type SignatureVerification =
  | { kind: 'insecure' }
  | { kind: 'ostreeRemote'; remote: string }
  | { kind: 'containerPolicy' };

export interface OstreeImageReference {
  /** The image without any transport, e.g. `quay.io/fedora/fedora-coreos:stable`. */
  image: string;
  /** bootc's transport names: registry, containers-storage, oci, oci-archive, docker-archive, dir. */
  transport: string;
  signature: SignatureVerification;
  /** The reference as given. */
  reference: string;
}

const KNOWN_TRANSPORTS = ['registry', 'containers-storage', 'oci-archive', 'oci', 'docker-archive', 'dir'];

/** `docker://X` / `registry:X` / `containers-storage:X` … → { transport, image }. */
export function parseContainerTransport(text: string): { transport: string; image: string } | null {
  if (text.startsWith('docker://')) return { transport: 'registry', image: text.slice('docker://'.length) };
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const name = text.slice(0, colon);
  if (!KNOWN_TRANSPORTS.includes(name)) return null;
  const image = text.slice(colon + 1);
  return image ? { transport: name, image } : null;
}

function splitFirst(text: string): [string, string] | null {
  const i = text.indexOf(':');
  return i <= 0 ? null : [text.slice(0, i), text.slice(i + 1)];
}

/** Parse an ostree imgref; null when `reference` is not one (e.g. an ostree ref like `fedora:fedora/x86_64/coreos/stable`). */
export function parseOstreeImageReference(reference: string): OstreeImageReference | null {
  const head = splitFirst(reference);
  if (!head) return null;
  const [scheme, rest] = head;
  const make = (signature: SignatureVerification, t: { transport: string; image: string } | null): OstreeImageReference | null =>
    t && t.image ? { image: t.image, transport: t.transport, signature, reference } : null;
  switch (scheme) {
    case 'ostree-unverified-registry':
      return make({ kind: 'insecure' }, { transport: 'registry', image: rest });
    case 'ostree-unverified-image':
      return make({ kind: 'insecure' }, parseContainerTransport(rest));
    case 'ostree-image-signed':
      return make({ kind: 'containerPolicy' }, parseContainerTransport(rest));
    case 'ostree-remote-registry': {
      const r = splitFirst(rest);
      return r ? make({ kind: 'ostreeRemote', remote: r[0] }, { transport: 'registry', image: r[1] }) : null;
    }
    case 'ostree-remote-image': {
      const r = splitFirst(rest);
      return r ? make({ kind: 'ostreeRemote', remote: r[0] }, parseContainerTransport(r[1])) : null;
    }
    default:
      return null;
  }
}

/**
 * Render the ostree imgref for a bootc image reference, as bootc writes it to the origin (and as
 * rpm-ostree then shows it).
 */
export function formatOstreeImageReference(image: string, transport: string, signature: SignatureVerification | null): string {
  const t = transport === 'registry' ? `registry:${image}` : `${transport}:${image}`;
  const sig = signature ?? { kind: 'insecure' };
  switch (sig.kind) {
    case 'insecure':
      return transport === 'registry' ? `ostree-unverified-registry:${image}` : `ostree-unverified-image:${t}`;
    case 'ostreeRemote':
      return transport === 'registry' ? `ostree-remote-registry:${sig.remote}:${image}` : `ostree-remote-image:${sig.remote}:${t}`;
    case 'containerPolicy':
      return `ostree-image-signed:${transport === 'registry' ? `docker://${image}` : t}`;
  }
}

/** The `@sha256:…` part of an image name, if it is pinned by digest. */
export function digestOfImageName(image: string): string | null {
  const m = /@(sha256:[0-9a-f]{64})$/.exec(image);
  return m?.[1] ?? null;
}
