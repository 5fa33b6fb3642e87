/**
 * The image catalog entry (images/catalog/*.yaml): one definition for the TypeScript type, the
 * validation (core/schema-check.ts) and the published images/catalog/schema.json.
 */
import { Type, type Static } from '@sinclair/typebox';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'a sha256 hex digest (64 lower-case hex digits)' });

/**
 * An http(s) URL with a host (a name, an IPv4 or a bracketed IPv6 address), an optional port and a
 * path of printable ASCII: no spaces or newlines (they would end up in HTTP requests and logs) and
 * no user:password@ (credentials never go in the catalog).
 */
const HTTP_URL_PATTERN = '^https?://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?([/?#][\\x21-\\x7E]*)?$';
const httpUrl = (description?: string) =>
  Type.String({
    pattern: HTTP_URL_PATTERN,
    'x-pattern-description': 'an http(s) URL with a host, without spaces or credentials, e.g. https://example.org/disk.qcow2',
    ...(description ? { description } : {}),
  });

const Credentials = Type.Object(
  {
    file: Type.Optional(Type.String({ minLength: 1, description: 'Path to an auth file (e.g. a podman auth.json); ~ is expanded.' })),
    env: Type.Optional(Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$', description: 'Name of an environment variable holding the auth file path.' })),
  },
  { additionalProperties: false, minProperties: 1, description: 'Where credentials come from — never the secret itself.' },
);

export const CoreosStreamSource = Type.Object(
  {
    kind: Type.Literal('coreos-stream'),
    stream: Type.String({ minLength: 1, description: 'stable, testing, next (FCOS) or a stream name served at metadata-url.' }),
    'metadata-url': Type.Optional(httpUrl('Stream JSON URL; defaults to the Fedora CoreOS builds server.')),
    format: Type.Optional(Type.Union([Type.Literal('qcow2.xz'), Type.Literal('qcow2.gz')])),
    keyring: Type.Optional(Type.String({ minLength: 1, description: 'gpg keyring for verifying the detached signature (gpgv).' })),
  },
  { additionalProperties: false },
);

export const UrlSource = Type.Object(
  {
    kind: Type.Literal('url'),
    url: httpUrl(),
    sha256: Type.Optional(Sha256),
    'uncompressed-sha256': Type.Optional(Sha256),
  },
  { additionalProperties: false },
);

export const LocalSource = Type.Object(
  {
    kind: Type.Literal('local'),
    path: Type.String({ minLength: 1, description: 'A qcow2 or raw disk on this machine; ~ and relative paths (to the catalog file) are expanded.' }),
    format: Type.Optional(Type.Union([Type.Literal('qcow2'), Type.Literal('raw')])),
  },
  { additionalProperties: false },
);

export const OciSource = Type.Object(
  {
    kind: Type.Literal('oci'),
    image: Type.String({ minLength: 1, description: 'A bootc container image, e.g. quay.io/fedora/fedora-bootc:42.' }),
    builder: Type.Optional(Type.Union([Type.Literal('bootc-image-builder'), Type.Literal('bcvk')])),
    'builder-image': Type.Optional(Type.String({ minLength: 1 })),
    rootfs: Type.Optional(Type.Union([Type.Literal('ext4'), Type.Literal('xfs'), Type.Literal('btrfs')])),
    'disk-size': Type.Optional(Type.String({ pattern: '^\\d+G$' })),
  },
  { additionalProperties: false },
);

export const TestbedSource = Type.Object(
  {
    kind: Type.Literal('testbed'),
  },
  { additionalProperties: false },
);

export const ImageSource = Type.Union([CoreosStreamSource, UrlSource, LocalSource, OciSource, TestbedSource], { 'x-discriminator': 'kind' });

export const CatalogEntrySchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9.-]*$' }),
    summary: Type.String({ minLength: 1 }),
    source: ImageSource,
    arch: Type.Optional(Type.Union([Type.Literal('x86_64'), Type.Literal('aarch64')])),
    firmware: Type.Optional(Type.Union([Type.Literal('bios'), Type.Literal('uefi')])),
    provisioning: Type.Union([Type.Literal('ignition'), Type.Literal('credentials'), Type.Literal('cloud-init')], {
      description:
        'How the run\'s login reaches the guest: ignition (Fedora CoreOS, RHCOS, the testbed: an Ignition config over fw_cfg), credentials (bootc images: systemd credentials in SMBIOS type 11 strings carrying sysusers.d/tmpfiles.d lines), cloud-init (images that run cloud-init: a NoCloud seed ISO). bootc images ship no cloud-init.',
    }),
    user: Type.String({ minLength: 1, description: 'The login user the harness uses over SSH.' }),
    manages: Type.Array(Type.Union([Type.Literal('rpm-ostree'), Type.Literal('bootc')]), { minItems: 1, description: 'What manages the OS.' }),
    credentials: Type.Optional(Credentials),
    memory: Type.Optional(Type.String({ pattern: '^\\d+(MiB|GiB)$', 'x-format': 'size', description: 'Default guest memory.' })),
    'ssh-ready-console': Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Text the image prints on its serial console once sshd listens (matched literally). The harness then connects at once, and until then tries SSH only every few seconds: polling an emulated guest from power-on floods its sshd. Leave it out when the image prints no such line.',
      }),
    ),
    notes: Type.Optional(Type.String()),
  },
  { additionalProperties: false, title: 'bootpath image catalog entry' },
);

export type CatalogEntry = Static<typeof CatalogEntrySchema>;
export type ImageSourceDef = Static<typeof ImageSource>;

/**
 * Provisioning that cannot work for the entry's source: a bootc image (source kind oci) ships no
 * cloud-init, so its login would never arrive and the first connection would fail with a host-key
 * mismatch. null when the combination is fine.
 */
export function provisioningProblem(entry: Pick<CatalogEntry, 'source' | 'provisioning'>): string | null {
  if (entry.source.kind === 'oci' && entry.provisioning === 'cloud-init') {
    return "bootc images ship no cloud-init: use 'provisioning: credentials' (systemd credentials over SMBIOS)";
  }
  return null;
}
