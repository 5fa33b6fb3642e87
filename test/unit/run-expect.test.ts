import { expect } from 'chai';
import { describeFailures, evaluateExpect, kargMatch } from '../../harness/run/expect.js';
import { fixture, hostStateFrom } from '../support/host-state.js';

const noFiles = async () => ({});

describe('expect evaluation', () => {
  const layered = hostStateFrom({
    rpmOstree: fixture('state', 'rpm-ostree-layered-staged.json'),
    bootc: null,
    kargs: ['root=LABEL=root', 'bootpath.test=1'],
  });

  it('passes what holds and diffs what does not', async () => {
    const checks = await evaluateExpect(
      { staged: { packages: ['htop'] }, booted: { image: 'quay.io/other:1' }, kargs: { has: ['bootpath.test=1', 'missing'] } },
      layered,
      noFiles,
    );
    const failures = describeFailures(checks);
    expect(checks.filter((c) => c.ok).map((c) => c.check)).to.include.members(['staged.packages', 'kargs.has']);
    expect(failures).to.have.length(2);
    expect(failures[0]).to.match(/^booted\.image expected quay\.io\/other:1, was /);
    expect(failures[1]).to.equal('kargs.has expected missing, was (absent)');
  });

  it('null slots mean "no such deployment"', async () => {
    const [check] = await evaluateExpect({ staged: null }, layered, noFiles);
    expect(check!.ok).to.equal(false);
    expect(check!.detail).to.equal('there is a staged deployment');
  });

  it('status-agree needs both tools to have answered', async () => {
    const [check] = await evaluateExpect({ 'status-agree': true }, layered, noFiles);
    expect(check!.ok).to.equal(false);
    expect(String(check!.actual)).to.contain('bootc is not available');
  });

  it('reads bootc type and incompatible flags', async () => {
    const s = hostStateFrom({ rpmOstree: null, bootc: fixture('state', 'bootc-d-layered-incompatible.json') });
    const checks = await evaluateExpect({ bootc: { type: null, incompatible: true } }, s, noFiles);
    expect(checks.every((c) => c.ok), JSON.stringify(checks)).to.equal(true);
  });

  it('asks the guest about files through the probe', async () => {
    const checks = await evaluateExpect({ files: { present: ['/a'], absent: ['/b'] } }, layered, async (paths) => {
      expect(paths).to.deep.equal(['/a', '/b']);
      return { '/a': true, '/b': true };
    });
    expect(checks.map((c) => c.ok)).to.deep.equal([true, false]);
  });

  it('matches karg keys and exact key=value', () => {
    expect(kargMatch(['a=1', 'b'], 'a')).to.equal('a=1');
    expect(kargMatch(['a=1'], 'a=2')).to.equal(null);
    expect(kargMatch(['ab=1'], 'a')).to.equal(null);
  });
});
