/**
 * The provisioning a catalog image gets: its `provisioning` field picks the mechanism, and each
 * carries the same login — the run's client key for the catalog's user, the pinned host key, and
 * passwordless sudo — in the form that image reads.
 */
import type { CatalogEntry } from '../../images/catalog/schema.js';
import type { Provisioning } from '../machine.js';
import { cloudInitMetaData, cloudInitProvisioning, cloudInitUserData } from './cloud-init.js';
import { credentialsProvisioning, redactCredentials } from './credentials.js';
import { redactIgnitionConfig, sshProvisioning, type HostKeyMaterial } from './ignition.js';
import { validateIgnitionConfig, type IgnitionValidation } from './ignition-validate.js';
import { containsPrivateKey, REDACTED } from './redact.js';

export type ImageTraits = Pick<CatalogEntry, 'provisioning' | 'source' | 'user'>;

export interface LoginMaterial {
  machineName: string;
  /** The run's client public key (one OpenSSH line). */
  authorizedKey: string;
  hostKey: HostKeyMaterial;
}

/** Fedora CoreOS runs Zincati; an image from the FCOS stream metadata (no other metadata-url) is FCOS. */
export function runsZincati(entry: ImageTraits): boolean {
  return entry.source.kind === 'coreos-stream' && entry.source['metadata-url'] === undefined;
}

/**
 * `transitionSafeLogin: false` leaves out the login files that survive the /etc merge (Ignition
 * only): what reproduces the lost login after a move to a bootc image. Scenario runs keep it on.
 */
export function provisioningFor(entry: ImageTraits, login: LoginMaterial, opts: { transitionSafeLogin?: boolean } = {}): Provisioning {
  const base = { user: entry.user, authorizedKey: login.authorizedKey, hostKey: login.hostKey };
  switch (entry.provisioning) {
    case 'ignition':
      return sshProvisioning({ ...base, transitionSafeLogin: opts.transitionSafeLogin ?? true, zincati: runsZincati(entry) });
    case 'credentials':
      return credentialsProvisioning(base);
    case 'cloud-init':
      return cloudInitProvisioning({
        userData: cloudInitUserData(base),
        metaData: cloudInitMetaData(`bootpath-${login.machineName}`, `bootpath-${login.machineName}`),
      });
  }
}

export type ProvisioningCheck = IgnitionValidation | { status: 'not-applicable' };

/** Check what can be checked on the host before boot: Ignition configs with the real validator. */
export async function checkProvisioning(p: Provisioning, what: string): Promise<ProvisioningCheck> {
  return p.kind === 'ignition' ? validateIgnitionConfig(p.config, what) : { status: 'not-applicable' };
}

/** What would be sent, with private key material redacted: fit for a terminal or a log. */
export function redactProvisioning(p: Provisioning): Provisioning {
  switch (p.kind) {
    case 'ignition':
      return { kind: 'ignition', config: redactIgnitionConfig(p.config) };
    case 'credentials':
      return { kind: 'credentials', credentials: redactCredentials(p.credentials) };
    case 'cloud-init':
      return { kind: 'cloud-init', userData: redactCloudConfig(p.userData), metaData: p.metaData };
    case 'none':
      return p;
  }
}

/** cloud-config carries the host key as a YAML block scalar: drop the lines of the key block. */
function redactCloudConfig(userData: string): string {
  if (!containsPrivateKey(userData)) return userData;
  const out: string[] = [];
  let inKey = false;
  for (const line of userData.split('\n')) {
    if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(line)) {
      inKey = true;
      out.push(line.replace(/-----BEGIN[\s\S]*$/, REDACTED));
    }
    if (!inKey) out.push(line);
    if (inKey && /-----END [A-Z0-9 ]*PRIVATE KEY-----/.test(line)) inKey = false;
  }
  return out.join('\n');
}
