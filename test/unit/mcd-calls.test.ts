import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../../core/errors.js';
import { callsFile, loadCalls, matchesShape, renderShape } from '../../harness/mcd/calls.js';
import { imageFromOstreeImageReference, podmanImageFor, runningRequestedKargs, splitKernelArguments, versionHasFeature } from '../../harness/mcd/go-ports.js';

describe('mcd calls.yaml', () => {
  it('loads, pins the MCO commit, and names a bootc source for every call', async () => {
    const calls = await loadCalls();
    expect(calls.mco.commit).to.equal('7ff337a4ffac8e7562692181178ede61e4b2eec5');
    expect(calls.calls.length).to.be.at.least(15);
    for (const c of calls.calls) expect(c.bootc.sources.length, c.id).to.be.greaterThan(0);
    // The calls the issue says have no bootc equivalent are marked so.
    const none = calls.calls.filter((c) => c.bootc.equivalent === 'none').map((c) => c.id);
    expect(none).to.include.members(['cleanup-pending', 'cleanup-rollback', 'kargs-read', 'update-install-uninstall', 'override-remove-kernel', 'override-reset-kernel', 'ex-deploy-from-self']);
  });

  it('refuses a duplicate id and a `none` entry that names a command, with the location', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mcd-calls-'));
    const text = readFileSync(callsFile, 'utf8');
    const dup = path.join(dir, 'dup.yaml');
    writeFileSync(dup, text.replace('id: status-text', 'id: status-json'));
    const err = await loadCalls(dup, 'dup.yaml').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(InputError);
    expect((err as InputError).problems[0]?.message).to.equal("duplicate call id 'status-json'");
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, text.replace("      equivalent: none\n      instead: No bootc read command", '      equivalent: none\n      command: [bootc, kargs]\n      instead: No bootc read command'));
    const err2 = (await loadCalls(bad, 'bad.yaml').catch((e: unknown) => e)) as InputError;
    expect(err2.problems.map((p) => p.message)).to.deep.equal(["unknown key 'command'; expected one of: equivalent, instead, sources"]);
  });

  it('matches argv shapes with placeholders and repeat groups', () => {
    const shape = ['rpm-ostree', 'kargs', { repeat: ['--delete-if-present=<old>'] }, { repeat: ['--append=<new>'] }];
    expect(matchesShape(['rpm-ostree', 'kargs', '--delete-if-present=a', '--append=b', '--append=c'], shape)).to.equal(true);
    expect(matchesShape(['rpm-ostree', 'kargs'], shape)).to.equal(true);
    expect(matchesShape(['rpm-ostree', 'kargs', '--append=b', '--delete-if-present=a'], shape)).to.equal(false);
    expect(matchesShape(['rpm-ostree', 'kargs', '--delete=a'], shape)).to.equal(false);
    expect(renderShape(shape)).to.equal('rpm-ostree kargs [--delete-if-present=<old>]… [--append=<new>]…');
  });
});

describe('mcd go ports', () => {
  it('splitKernelArguments keeps quoted spaces like the kernel’s next_arg', () => {
    expect(splitKernelArguments('  a=1 b="x y"\tc ')).to.deep.equal(['a=1', 'b="x y"', 'c']);
    expect(runningRequestedKargs(['c', 'a=1', 'z'], 'a=1 b c\n')).to.deep.equal(['a=1', 'c']);
  });

  it('GetBootedOSImageURL strips the ostree signature prefix and transport', () => {
    expect(imageFromOstreeImageReference('ostree-unverified-registry:quay.io/a/b:1')).to.equal('quay.io/a/b:1');
    expect(imageFromOstreeImageReference('ostree-unverified-image:containers-storage:quay.io/a/b@sha256:1')).to.equal('quay.io/a/b@sha256:1');
    expect(imageFromOstreeImageReference('ostree-image-signed:docker://quay.io/a/b:1')).to.equal('quay.io/a/b:1');
    expect(imageFromOstreeImageReference('ostree-remote-image:fedora:registry:quay.io/fedora/fedora-coreos@sha256:c4')).to.equal('quay.io/fedora/fedora-coreos@sha256:c4');
    expect(imageFromOstreeImageReference('fedora:fedora/x86_64/coreos/stable')).to.equal(null);
  });

  it('IsNewEnoughForLayering reads Features from the --version YAML', () => {
    expect(versionHasFeature('rpm-ostree:\n  Version: \'2024.7\'\n  Git: x\n  Features:\n   - rust\n   - container\n', 'container')).to.equal(true);
    expect(versionHasFeature('rpm-ostree:\n  Version: \'2022.1\'\n  Features:\n   - rust\n', 'container')).to.equal(false);
    expect(versionHasFeature(': not yaml: [', 'container')).to.equal(false);
  });

  it('GetPodmanImageInfoByReference only fills RepoDigest for an exact digest reference', () => {
    const out = JSON.stringify([{ Id: 'abc', RepoDigests: ['quay.io/x@sha256:1'] }]);
    expect(podmanImageFor(out, 'quay.io/x@sha256:1')).to.deep.equal({ id: 'abc', repoDigest: 'quay.io/x@sha256:1' });
    expect(podmanImageFor(out, 'quay.io/x:latest')).to.deep.equal({ id: 'abc', repoDigest: '' });
    expect(podmanImageFor('[]', 'quay.io/x:latest')).to.equal(null);
  });
});
