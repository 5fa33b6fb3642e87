import { expect } from 'chai';
import { withParentDeathSignal } from '../../vm/parent-death.js';
import { hostForwardRule } from '../../vm/ports.js';
import { buildQemuArgs, qemuOptValue, type QemuLaunch } from '../../vm/qemu/command.js';

const base: QemuLaunch = {
  qemuBinary: 'qemu-system-x86_64',
  accel: 'tcg',
  runId: 'run-1',
  machineName: 'm1',
  memoryMiB: 512,
  cpus: 2,
  overlay: '/runs/r1/m1/overlay.qcow2',
  consoleLog: '/runs/r1/m1/console-1.log',
  qmp: { fd: 3 },
  hostPort: 22222,
  noReboot: true,
};

/** The value following `flag`, for every occurrence. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));
}

describe('vm/qemu/command', () => {
  it('forwards SSH from 127.0.0.1 only, never an empty or wildcard address', () => {
    const args = buildQemuArgs(base);
    const netdev = values(args, '-netdev');
    expect(netdev).to.deep.equal(['user,id=n0,hostfwd=tcp:127.0.0.1:22222-:22']);
    expect(args.join(' ')).not.to.match(/hostfwd=tcp::|0\.0\.0\.0/);
    expect(hostForwardRule(2200, 8080)).to.equal('hostfwd=tcp:127.0.0.1:2200-:8080');
    expect(() => hostForwardRule(0, 22)).to.throw(/invalid host port/);
  });

  it('omits hostfwd when no forward is wanted', () => {
    expect(values(buildQemuArgs({ ...base, hostPort: null }), '-netdev')).to.deep.equal(['user,id=n0']);
  });

  it('adds -no-reboot only when guest resets restart QEMU', () => {
    expect(buildQemuArgs(base)).to.include('-no-reboot');
    expect(buildQemuArgs({ ...base, noReboot: false })).not.to.include('-no-reboot');
  });

  it('picks -cpu by accelerator', () => {
    expect(values(buildQemuArgs(base), '-cpu')).to.deep.equal(['max']);
    expect(values(buildQemuArgs(base), '-accel')).to.deep.equal(['tcg']);
    const kvm = buildQemuArgs({ ...base, accel: 'kvm' });
    expect(values(kvm, '-cpu')).to.deep.equal(['host']);
    expect(values(kvm, '-accel')).to.deep.equal(['kvm']);
  });

  it('passes Ignition through fw_cfg with the CoreOS name', () => {
    const args = buildQemuArgs({ ...base, ignitionConfig: '/runs/r1/m1/config.ign' });
    expect(values(args, '-fw_cfg')).to.deep.equal(['name=opt/com.coreos/config,file=/runs/r1/m1/config.ign']);
  });

  it('boots UEFI from read-only OVMF code plus a per-machine vars copy', () => {
    const args = buildQemuArgs({ ...base, uefi: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/runs/r1/m1/OVMF_VARS.fd' } });
    const drives = values(args, '-drive').filter((d) => d.startsWith('if=pflash'));
    expect(drives).to.deep.equal([
      'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
      'if=pflash,format=raw,unit=1,file=/runs/r1/m1/OVMF_VARS.fd',
    ]);
  });

  it('attaches the overlay, serial console file, QMP fd and a process name', () => {
    const args = buildQemuArgs(base);
    expect(values(args, '-drive')).to.include('if=none,id=disk0,format=qcow2,discard=unmap,file=/runs/r1/m1/overlay.qcow2');
    expect(values(args, '-chardev')).to.include('file,id=serial0,path=/runs/r1/m1/console-1.log');
    expect(values(args, '-chardev')).to.include('socket,id=qmp,fd=3');
    expect(values(args, '-mon')).to.deep.equal(['chardev=qmp,mode=control']);
    expect(values(args, '-name')).to.deep.equal(['bootpath-run-1-m1,process=bootpath-m1']);
    expect(args).to.include('-nodefaults');
  });

  it('escapes commas in paths and supports direct kernel boot and a seed ISO', () => {
    expect(qemuOptValue('/a,b/c')).to.equal('/a,,b/c');
    const args = buildQemuArgs({
      ...base,
      overlay: '/x,y/overlay.qcow2',
      directKernel: { kernel: '/k/vmlinuz', initrd: '/k/initrd', append: 'console=ttyS0' },
      seedIso: '/runs/seed.iso',
    });
    expect(values(args, '-drive')[0]).to.equal('if=none,id=disk0,format=qcow2,discard=unmap,file=/x,,y/overlay.qcow2');
    expect(values(args, '-kernel')).to.deep.equal(['/k/vmlinuz']);
    expect(values(args, '-append')).to.deep.equal(['console=ttyS0']);
    expect(values(args, '-drive')).to.include('if=none,id=seed,format=raw,media=cdrom,readonly=on,file=/runs/seed.iso');
  });

  it('wraps QEMU in setpriv --pdeathsig KILL when available', () => {
    expect(withParentDeathSignal('/usr/bin/setpriv', 'qemu', ['-m', '1'])).to.deep.equal({
      file: '/usr/bin/setpriv',
      args: ['--pdeathsig', 'KILL', '--', 'qemu', '-m', '1'],
    });
    expect(withParentDeathSignal(null, 'qemu', ['-m', '1'])).to.deep.equal({ file: 'qemu', args: ['-m', '1'] });
  });
});
