/** `doctor`: what this host can do, each fact with its remedy. Exit 3 when a run could not start. */
import { ExitCode } from '../../../core/errors.js';
import { cacheDir } from '../../../core/paths.js';
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
};

/** Facts without which no scenario can run. */
const REQUIRED: (keyof HostFacts)[] = ['qemu', 'qemuImg'];

export async function doctorCommand(opts: { json: boolean }, io: CliIo): Promise<number> {
  const facts = await probeHost();
  const blocking = REQUIRED.filter((k) => facts[k].status === 'missing');
  if (opts.json) {
    io.stdout(JSON.stringify({ cacheDir: cacheDir(), ready: blocking.length === 0, facts }, null, 2) + '\n');
    return blocking.length > 0 ? ExitCode.hostNotCapable : ExitCode.ok;
  }
  io.stdout(`bootpath doctor — cache: ${cacheDir()}\n`);
  for (const key of Object.keys(LABELS) as (keyof HostFacts)[]) {
    const fact = facts[key] as Fact<unknown>;
    const mark = fact.status === 'ok' ? 'ok  ' : fact.status === 'warn' ? 'warn' : 'MISSING';
    io.stdout(`  ${mark.padEnd(7)} ${LABELS[key].padEnd(14)} ${fact.detail}\n`);
    if (fact.remedy) io.stdout(`          ${''.padEnd(14)} → ${fact.remedy}\n`);
  }
  if (blocking.length > 0) {
    io.stdout(`\nnot ready: ${blocking.map((k) => LABELS[k]).join(', ')} missing\n`);
    return ExitCode.hostNotCapable;
  }
  io.stdout(`\nready${facts.kvm.value.accel === 'tcg' ? ' (machines run under TCG software emulation: slower, but complete)' : ''}\n`);
  return ExitCode.ok;
}
