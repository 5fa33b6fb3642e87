/**
 * A RunPlan is one matrix cell of one scenario, fully resolved: images from the catalog, values
 * interpolated, durations and sizes in numbers. The runner executes plans; it never reads YAML.
 */
import type { CatalogImage } from '../../images/catalog.js';
import type { Cell } from './matrix.js';
import type { StepDef } from './schema.js';

export const DEFAULT_SCENARIO_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_MEMORY_MIB = 1024;
/** vCPUs of a machine that does not set `cpus` and runs alone, or under KVM (see machineVcpus). */
export const DEFAULT_CPUS = 2;

export interface MachinePlan {
  name: string;
  image: CatalogImage;
  memoryMiB: number;
  /** vCPUs the scenario asked for; null: sized at run time by machineVcpus (harness/run/admission.ts). */
  cpus: number | null;
  diskMiB: number | null;
}

/** A machine as it is started: vCPUs decided for this host and run (harness/run/admission.ts machineVcpus). */
export type SizedMachinePlan = MachinePlan & { cpus: number };

export type StepKind = 'run' | 'reboot' | 'rpm-ostree' | 'bootc' | 'update' | 'expect' | 'wait' | 'copy' | 'record';

/** A step with its kind, a readable label and the machine it runs on. */
export interface PlannedStep {
  index: number;
  kind: StepKind;
  label: string;
  machine: string;
  /** Explicit step timeout, before the accelerator's scale factor; null → the kind's default. */
  timeoutMs: number | null;
  def: Exclude<StepDef, string>;
}

export interface RunPlan {
  /** `scenario` or `scenario[axis=value,…]`; unique within a run. */
  id: string;
  scenario: string;
  file: string;
  summary: string;
  questions: string[];
  tags: string[];
  cell: Cell;
  machines: MachinePlan[];
  steps: PlannedStep[];
  timeoutMs: number;
  /** Directory of the scenario file: `copy` sources are relative to it. */
  baseDir: string;
  /** sha256 of the scenario file's text (16 hex digits): results from different revisions are not merged silently. */
  revision: string;
}

const ACTION_KEYS: StepKind[] = ['run', 'reboot', 'rpm-ostree', 'bootc', 'update', 'expect', 'wait', 'copy'];

export function stepKind(def: Exclude<StepDef, string>): StepKind {
  const found = ACTION_KEYS.find((k) => k in def);
  return found ?? 'record';
}

/** What the step does, in one line, for progress views and reports. */
export function describeStep(def: Exclude<StepDef, string>): string {
  if (def.name) return def.name;
  const d = def as Record<string, unknown>;
  switch (stepKind(def)) {
    case 'run':
      return `run: ${String(d.run)}`;
    case 'reboot':
      return 'reboot';
    case 'rpm-ostree': {
      const op = String(d['rpm-ostree']);
      const args = [
        ...((d.packages as string[] | undefined) ?? []),
        ...(d.image ? [String(d.image)] : []),
        ...kargArgs(d),
        ...((d.install as string[] | undefined) ?? []).map((p) => `--install=${p}`),
        ...((d.uninstall as string[] | undefined) ?? []).map((p) => `--uninstall=${p}`),
        ...(d.pending ? ['-p'] : []),
        ...(d.rollback ? ['-r'] : []),
      ];
      return ['rpm-ostree', op.replace('override-', 'override '), ...args].join(' ');
    }
    case 'bootc':
      return ['bootc', String(d.bootc), ...(d.image ? [String(d.image)] : []), ...(d.check ? ['--check'] : [])].join(' ');
    case 'update': {
      const u = d.update as { via: string; image: string };
      return `update via ${u.via} to ${u.image}`;
    }
    case 'expect':
      return `expect ${Object.keys(d.expect as object).join(', ')}`;
    case 'wait':
      return typeof d.wait === 'object' ? `wait for ${Object.keys(d.wait as object).join(', ')}` : `wait ${String(d.wait)}`;
    case 'copy': {
      const c = d.copy as { src: string; dest: string };
      return `copy ${c.src} → ${c.dest}`;
    }
    case 'record':
      return `record ${String(d.record)}`;
  }
}

function kargArgs(d: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const opt of ['delete-if-present', 'delete', 'append', 'append-if-missing', 'replace']) {
    for (const v of (d[opt] as string[] | undefined) ?? []) out.push(`--${opt}=${v}`);
  }
  return out;
}
