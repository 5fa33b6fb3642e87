/**
 * `doctor`: what this host can do, each fact with its remedy, and which machine backends it can
 * run. Exit 3 when a run with the chosen backend (--backend) could not start.
 */
import { ExitCode } from '../../../core/errors.js';
import { cacheDir } from '../../../core/paths.js';
import { BACKEND_NAMES, BACKENDS, type BackendName } from '../../../vm/backends.js';
import { probeHost, type Fact, type HostFacts } from '../../../vm/host-facts.js';
import type { CliIo } from '../io.js';

const LABELS: Record<keyof HostFacts, string> = {
  qemu: 'QEMU',
  qemuImg: 'qemu-img',
  kvm: 'acceleration',
  cpus: 'CPUs',
  memory: 'memory',
  disk: 'disk',
  ovmf: 'UEFI firmware',
  podman: 'podman',
  setpriv: 'setpriv',
  virsh: 'libvirt (virsh)',
  xorriso: 'xorriso',
  osbuildSelinux: 'osbuild-selinux',
};

/** The facts a backend needs that this host lacks. */
export function missingFor(backend: BackendName, facts: HostFacts): (keyof HostFacts)[] {
  return BACKENDS[backend].requiredFacts.filter((k) => facts[k].status !== 'ok');
}

export async function doctorCommand(opts: { json: boolean; backend: BackendName }, io: CliIo): Promise<number> {
  const facts = await probeHost();
  const blocking = missingFor(opts.backend, facts);
  const backends = Object.fromEntries(BACKEND_NAMES.map((b) => [b, { ready: missingFor(b, facts).length === 0, missing: missingFor(b, facts) }]));
  if (opts.json) {
    io.stdout(JSON.stringify({ cacheDir: cacheDir(), backend: opts.backend, ready: blocking.length === 0, backends, facts }, null, 2) + '\n');
    return blocking.length > 0 ? ExitCode.hostNotCapable : ExitCode.ok;
  }
  io.stdout(`bootpath doctor — cache: ${cacheDir()}\n`);
  for (const key of Object.keys(LABELS) as (keyof HostFacts)[]) {
    const fact = facts[key] as Fact<unknown>;
    const mark = fact.status === 'ok' ? 'ok  ' : fact.status === 'warn' ? 'warn' : 'MISSING';
    io.stdout(`  ${mark.padEnd(7)} ${LABELS[key].padEnd(16)} ${fact.detail}\n`);
    if (fact.remedy) io.stdout(`          ${''.padEnd(16)} → ${fact.remedy}\n`);
  }
  io.stdout('\nbackends:\n');
  for (const b of BACKEND_NAMES) {
    const missing = missingFor(b, facts);
    const state = missing.length === 0 ? 'ready' : `needs ${missing.map((k) => LABELS[k]).join(', ')}`;
    io.stdout(`  ${b.padEnd(8)} ${state} — ${BACKENDS[b].summary}\n`);
  }
  if (blocking.length > 0) {
    io.stdout(`\nnot ready for --backend ${opts.backend}: ${blocking.map((k) => LABELS[k]).join(', ')} missing\n`);
    return ExitCode.hostNotCapable;
  }
  io.stdout(`\nready${facts.kvm.value.accel === 'tcg' ? ' (machines run under TCG software emulation: slower, but complete)' : ''}\n`);
  return ExitCode.ok;
}
