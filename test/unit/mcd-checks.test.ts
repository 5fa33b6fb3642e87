import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateCheck } from '../../harness/mcd/checks.js';
import { loadGoTypes, type GoTypes } from '../../harness/mcd/daemon-view.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const out = (rel: string) => ({ exitCode: 0, stdout: readFileSync(path.join(fixtures, rel), 'utf8'), stderr: '' });

describe("mcd checks: the daemon's judgement of a command result", () => {
  let types: GoTypes;
  before(async () => {
    types = await loadGoTypes();
  });

  it('checkOS on rpm-ostree status: the image without the ostree-unverified-registry: prefix', () => {
    const r = out('testbed/rpm-ostree-status-initial.json');
    expect(evaluateCheck({ kind: 'booted-image', image: 'localhost/bootpath/testbed:v1', from: 'rpm-ostree-status' }, r, types)).to.deep.equal({ verdict: 'pass', message: 'booted into localhost/bootpath/testbed:v1' });
    // return fmt.Errorf("expected target osImageURL %q, have %q", imageToCheck, dn.bootedOSImageURL)
    expect(evaluateCheck({ kind: 'booted-image', image: 'localhost/bootpath/testbed:v2', from: 'rpm-ostree-status' }, r, types).message).to.equal('expected target osImageURL "localhost/bootpath/testbed:v2", have "localhost/bootpath/testbed:v1"');
  });

  it('checkOS on bootc status: GetBootedImageInfo, including its nil dereference on a layered host', () => {
    expect(evaluateCheck({ kind: 'booted-image', image: 'localhost/bootpath/testbed:v1', from: 'bootc-status' }, out('testbed/bootc-status-initial.json'), types).verdict).to.equal('pass');
    const layered = evaluateCheck({ kind: 'booted-image', image: 'localhost/bootpath/testbed:v1', from: 'bootc-status' }, out('testbed/bootc-status-incompatible.json'), types);
    expect(layered.verdict).to.equal('fail');
    expect(layered.message).to.match(/^the daemon panics: runtime error: invalid memory address or nil pointer dereference/u);
  });

  it('verifyExtensionsStaged: every package in the staged requested-packages', () => {
    const r = out('testbed/rpm-ostree-status-layered-staged.json');
    expect(evaluateCheck({ kind: 'staged-requested-packages', packages: ['strace'] }, r, types).verdict).to.equal('pass');
    // fmt.Errorf("the following extension packages are missing from the staged deployment: %v", missingPackages)
    expect(evaluateCheck({ kind: 'staged-requested-packages', packages: ['strace', 'usbguard'] }, r, types).message).to.equal('the following extension packages are missing from the staged deployment: [usbguard]');
    // fmt.Errorf("no staged deployment found after applying extensions")
    expect(evaluateCheck({ kind: 'staged-requested-packages', packages: ['strace'] }, out('testbed/rpm-ostree-status-initial.json'), types).message).to.equal('no staged deployment found after applying extensions');
  });

  it('validateKernelArguments splits the kargs output on spaces', () => {
    const r = { exitCode: 0, stdout: 'root=UUID=1 rw a=1\n', stderr: '' };
    expect(evaluateCheck({ kind: 'kargs-include', kargs: ['a=1'] }, r, types).verdict).to.equal('pass');
    // fmt.Errorf("missing expected kernel arguments: %v", missing)
    expect(evaluateCheck({ kind: 'kargs-include', kargs: ['a=1', 'b'] }, r, types).message).to.equal('missing expected kernel arguments: [b]');
  });

  it('exit codes: failures are errors unless ignored; rpm -q exit 1 is "not installed"', () => {
    const failed = { exitCode: 1, stdout: '', stderr: 'error: Unknown option --remove\nmore' };
    expect(evaluateCheck({ kind: 'succeeds' }, failed, types)).to.deep.equal({ verdict: 'fail', message: 'exit 1: error: Unknown option --remove' });
    expect(evaluateCheck({ kind: 'failure-ignored' }, failed, types).verdict).to.equal('ignored');
    expect(evaluateCheck({ kind: 'rpm-installed', package: 'usbguard' }, { exitCode: 1, stdout: 'package usbguard is not installed', stderr: '' }, types).message).to.equal('package usbguard is not installed');
    expect(evaluateCheck({ kind: 'staged-requested-packages', packages: [] }, { exitCode: 0, stdout: 'not json', stderr: '' }, types).message).to.match(/^cannot read the output: /u);
  });
});
