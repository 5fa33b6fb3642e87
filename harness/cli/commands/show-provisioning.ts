/**
 * `--dry-run --show-provisioning`: what each machine would be sent at first boot — the Ignition
 * config or the systemd credentials, built exactly as a run builds them — with private key material
 * redacted, so a user can see why a login fails without booting anything. Keys are made fresh for
 * the preview (a run makes its own), in a private temporary directory removed before returning.
 * Ignition configs are checked with the real validator, as a run does before boot.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../../../core/errors.js';
import type { Provisioning, SystemdCredential } from '../../../vm/machine.js';
import { checkProvisioning, provisioningFor, redactProvisioning, type ProvisioningCheck } from '../../../vm/provision/for-image.js';
import { generateKeyPair } from '../../../vm/ssh-keys.js';
import type { RunPlan } from '../../scenario/plan.js';
import type { CliIo } from '../io.js';
import { printPlan } from './dry-run.js';
import type { PreflightOptions } from '../preflight.js';

export interface MachineProvisioningPreview {
  run: string;
  machine: string;
  image: string;
  /** Redacted: never carries private key material. */
  provisioning: Provisioning;
  check: ProvisioningCheck | { status: 'invalid'; message: string };
}

export async function previewProvisioning(plans: RunPlan[]): Promise<MachineProvisioningPreview[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-preview-'));
  try {
    const client = await generateKeyPair(dir, 'id_ed25519', 'bootpath-run-preview');
    const out: MachineProvisioningPreview[] = [];
    for (const plan of plans) {
      for (const m of plan.machines) {
        const host = await generateKeyPair(dir, `host-${out.length + 1}`, `bootpath-host-${m.name}`);
        const hostKey = { privateKey: await fs.readFile(host.privateKeyPath, 'utf8'), publicKey: host.publicKey };
        const p = provisioningFor(m.image.entry, { machineName: m.name, authorizedKey: client.publicKey, hostKey }, { transitionSafeLogin: m.transitionSafeLogin });
        let check: MachineProvisioningPreview['check'];
        try {
          check = await checkProvisioning(p, `machine ${m.name} (image ${m.image.entry.name})`);
        } catch (err) {
          check = { status: 'invalid', message: errorMessage(err) };
        }
        out.push({ run: plan.id, machine: m.name, image: m.image.entry.name, provisioning: redactProvisioning(p), check });
      }
    }
    return out;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function printPlanWithProvisioning(plans: RunPlan[], io: CliIo, json: boolean, checks: PreflightOptions): Promise<number> {
  const previews = await previewProvisioning(plans);
  const invalid = previews.some((p) => p.check.status === 'invalid');
  if (json) {
    io.stdout(JSON.stringify(previews, null, 2) + '\n');
    return invalid ? 1 : 0;
  }
  await printPlan(plans, io, false, checks);
  io.stdout('\nprovisioning (keys are made fresh by every run; the ones below were made for this preview; private keys redacted)\n');
  for (const p of previews) {
    io.stdout(`\n${p.run}  machine ${p.machine} (image ${p.image}): ${describeKind(p.provisioning)}\n`);
    io.stdout(indent(renderProvisioning(p.provisioning), '    '));
    io.stdout(`  check: ${describeCheck(p.check)}\n`);
  }
  return invalid ? 1 : 0;
}

function describeKind(p: Provisioning): string {
  switch (p.kind) {
    case 'ignition':
      return 'Ignition config over fw_cfg opt/com.coreos/config';
    case 'credentials':
      return 'systemd credentials in SMBIOS type 11 strings';
    case 'cloud-init':
      return 'cloud-init NoCloud seed ISO (label cidata)';
    case 'none':
      return 'nothing';
  }
}

function renderProvisioning(p: Provisioning): string {
  switch (p.kind) {
    case 'ignition':
      return JSON.stringify(p.config, null, 2) + '\n' + renderIgnitionFiles(p.config);
    case 'credentials':
      return p.credentials.map(renderCredential).join('');
    case 'cloud-init':
      return `user-data:\n${indent(p.userData, '  ')}meta-data:\n${indent(p.metaData, '  ')}`;
    case 'none':
      return '';
  }
}

/** The files' contents decoded (the JSON carries them as base64 data URLs). */
function renderIgnitionFiles(config: Record<string, unknown>): string {
  const storage = config.storage as { files?: { path: string; mode: number; user?: { name?: string }; contents: { source: string } }[] } | undefined;
  const files = storage?.files ?? [];
  if (files.length === 0) return '';
  const lines = files.flatMap((f) => {
    const head = `${f.path} (mode ${f.mode.toString(8).padStart(4, '0')}${f.user?.name ? `, owner ${f.user.name}` : ''})`;
    const src = f.contents.source;
    const m = /^data:[^,]*;base64,(.*)$/s.exec(src);
    const body = m ? Buffer.from(m[1]!, 'base64').toString('utf8').trimEnd() : src;
    return [head, ...body.split('\n').map((l) => `  | ${l}`)];
  });
  return `files, decoded:\n${lines.map((l) => `  ${l}\n`).join('')}`;
}

/** Each line as sent; base64 arguments (tmpfiles `~`) decoded underneath, so keys can be read. */
function renderCredential(c: SystemdCredential): string {
  const lines = c.value.split('\n').filter(Boolean);
  const body = lines.flatMap((line) => {
    const fields = line.split(' ');
    if (!fields[0]?.includes('~') || fields.length < 7 || fields[6]!.startsWith('<')) return [line];
    const decoded = Buffer.from(fields.slice(6).join(' '), 'base64').toString('utf8').trimEnd();
    return [line, ...decoded.split('\n').map((d) => `  # ${d}`)];
  });
  return `${c.name}:\n${body.map((l) => `  ${l}\n`).join('')}`;
}

function describeCheck(c: MachineProvisioningPreview['check']): string {
  switch (c.status) {
    case 'valid':
      return `valid (${c.validator})`;
    case 'skipped':
      return `not checked: ${c.notice}`;
    case 'invalid':
      return `INVALID: ${c.message}`;
    case 'not-applicable':
      return 'no host-side validator for this kind';
  }
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l, i, all) => (i === all.length - 1 && l === '' ? '' : `${prefix}${l}\n`))
    .join('');
}
