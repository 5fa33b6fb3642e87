import { expect } from 'chai';
import { bootcCommand } from '../../harness/steps/bootc.js';
import { rpmOstreeCommand } from '../../harness/steps/rpm-ostree.js';
import { updateCommand } from '../../harness/steps/update.js';

describe('guest command lines', () => {
  it('builds the MCD rpm-ostree command lines exactly', () => {
    expect(rpmOstreeCommand({ 'rpm-ostree': 'install', packages: ['strace', 'tree'] }).argv).to.deep.equal(['rpm-ostree', 'install', '--', 'strace', 'tree']);
    expect(rpmOstreeCommand({ 'rpm-ostree': 'kargs', append: ['a=1'], 'delete-if-present': ['b=2'] }).argv).to.deep.equal(['rpm-ostree', 'kargs', '--delete-if-present=b=2', '--append=a=1']);
    expect(rpmOstreeCommand({ 'rpm-ostree': 'rebase', image: 'quay.io/x:1' }).argv).to.deep.equal(['rpm-ostree', 'rebase', '--experimental', 'ostree-unverified-registry:quay.io/x:1']);
    expect(rpmOstreeCommand({ 'rpm-ostree': 'cleanup', pending: true, rollback: true }).argv).to.deep.equal(['rpm-ostree', 'cleanup', '-p', '-r']);
    expect(rpmOstreeCommand({ 'rpm-ostree': 'update', install: ['a'], uninstall: ['b'] }).argv).to.deep.equal(['rpm-ostree', 'update', '--install=a', '--uninstall=b']);
    expect(rpmOstreeCommand({ 'rpm-ostree': 'override-remove', packages: ['kernel'] }).argv).to.deep.equal(['rpm-ostree', 'override', 'remove', '--', 'kernel']);
    expect(rpmOstreeCommand({ 'rpm-ostree': 'status' }).argv).to.deep.equal(['rpm-ostree', 'status', '--json']);
  });

  it('marks --reboot / --apply commands as reboot triggers', () => {
    const r = rpmOstreeCommand({ 'rpm-ostree': 'install', packages: ['x'], reboot: true });
    expect(r).to.deep.equal({ argv: ['rpm-ostree', 'install', '--reboot', '--', 'x'], reboots: true });
    expect(bootcCommand({ bootc: 'switch', image: 'img', apply: true })).to.deep.equal({ argv: ['bootc', 'switch', '--apply', '--', 'img'], reboots: true });
    expect(bootcCommand({ bootc: 'upgrade', check: true, apply: true }).reboots).to.equal(false);
  });

  it('keeps scenario values as single arguments after the end of options (no shell splitting, never an option)', () => {
    const nasty = 'quay.io/x:1; rm -rf / $(id)';
    expect(bootcCommand({ bootc: 'switch', image: nasty }).argv).to.deep.equal(['bootc', 'switch', '--', nasty]);
  });

  it('runs one update through either driver', () => {
    expect(updateCommand({ update: { via: 'rpm-ostree', image: 'i' } }).argv).to.deep.equal(['rpm-ostree', 'rebase', '--experimental', 'ostree-unverified-registry:i']);
    expect(updateCommand({ update: { via: 'bootc', image: 'i' } }).argv).to.deep.equal(['bootc', 'switch', '--', 'i']);
    expect(updateCommand({ update: { via: 'bootc', image: 'i', apply: true } }).reboots).to.equal(true);
  });
});
