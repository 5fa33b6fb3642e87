import { bool, isObject, list, num, obj, parseJsonObject, str, StateParseError } from './json.js';
import type { BootcBootEntry, BootcHost, BootcImageReference, BootcImageStatus, BootcSignature, JsonObject } from './types.js';

/** `signature` is an externally tagged enum: `{"ostreeRemote":"fedora"}` | `"containerPolicy"` | `"insecure"`; omitted = unverified. */
function parseSignature(v: unknown): BootcSignature | null {
  if (v === undefined || v === null) return null;
  if (v === 'containerPolicy') return { kind: 'containerPolicy' };
  if (v === 'insecure') return { kind: 'insecure' };
  if (isObject(v) && typeof v.ostreeRemote === 'string') return { kind: 'ostreeRemote', remote: v.ostreeRemote };
  return { kind: 'unknown', raw: v };
}

function parseImageReference(v: unknown): BootcImageReference | null {
  if (!isObject(v)) return null;
  const image = str(v, 'image');
  if (!image) return null;
  return { image, transport: str(v, 'transport') ?? 'registry', signature: parseSignature(v.signature) };
}

function parseImageStatus(v: unknown): BootcImageStatus | null {
  if (!isObject(v)) return null;
  const image = parseImageReference(v.image);
  if (!image) return null;
  return {
    image,
    version: str(v, 'version'),
    timestamp: str(v, 'timestamp'),
    imageDigest: str(v, 'imageDigest'),
    architecture: str(v, 'architecture'),
    raw: v,
  };
}

function parseEntry(v: unknown): BootcBootEntry | null {
  if (!isObject(v)) return null;
  const ostree = obj(v, 'ostree');
  const checksum = ostree ? str(ostree, 'checksum') : null;
  return {
    image: parseImageStatus(v.image),
    cachedUpdate: parseImageStatus(v.cachedUpdate),
    incompatible: bool(v, 'incompatible') ?? false,
    pinned: bool(v, 'pinned') ?? false,
    softRebootCapable: bool(v, 'softRebootCapable'),
    downloadOnly: bool(v, 'downloadOnly'),
    store: str(v, 'store'),
    ostree:
      ostree && checksum
        ? { checksum, deploySerial: num(ostree, 'deploySerial') ?? num(ostree, 'deploy_serial'), stateroot: str(ostree, 'stateroot') }
        : null,
    composefs: obj(v, 'composefs'),
    raw: v,
  };
}

/**
 * Parse `bootc status --format=json` (or the older `--json`). Accepts apiVersion
 * `org.containers.bootc/v1` and `v1alpha1`; fields added by later bootc versions are optional.
 */
export function parseBootcStatus(text: string): BootcHost {
  const root = parseJsonObject(text, 'bootc status JSON output');
  const kind = str(root, 'kind');
  const apiVersion = str(root, 'apiVersion');
  if (kind !== 'BootcHost' || !apiVersion?.startsWith('org.containers.bootc/')) {
    throw new StateParseError(
      `bootc status JSON output is not a BootcHost (apiVersion ${JSON.stringify(apiVersion)}, kind ${JSON.stringify(kind)})`,
    );
  }
  const spec = obj(root, 'spec') ?? {};
  const status: JsonObject = obj(root, 'status') ?? {};
  const overlay = obj(status, 'usrOverlay');
  return {
    apiVersion,
    kind,
    spec: { image: parseImageReference(spec.image), bootOrder: str(spec, 'bootOrder') },
    status: {
      staged: parseEntry(status.staged),
      booted: parseEntry(status.booted),
      rollback: parseEntry(status.rollback),
      otherDeployments: list(status, 'otherDeployments')
        .map(parseEntry)
        .filter((e): e is BootcBootEntry => e !== null),
      rollbackQueued: bool(status, 'rollbackQueued') ?? false,
      type: str(status, 'type'),
      usrOverlay: overlay ? { accessMode: str(overlay, 'accessMode'), persistence: str(overlay, 'persistence') } : null,
      readOnly: bool(status, 'readOnly'),
    },
    raw: root,
  };
}
