import { expect } from 'chai';
import { loadCalls, type CallsFile } from '../../harness/mcd/calls.js';
import { buildQ1Table } from '../../harness/mcd/q1-table.js';

describe('mcd Q1 table', () => {
  let calls: CallsFile;
  before(async () => {
    calls = await loadCalls();
  });

  it('one row per call shape, with its function, bootc equivalent and the three phases', () => {
    const table = buildQ1Table(calls, {
      'rebase-registry': {
        rpmOstreeHost: { status: 'ok', evidence: 'testbed' },
        afterSwitch: { status: 'ok', evidence: 'testbed' },
        bootcDriver: { status: 'ok', command: 'bootc switch localhost/bootpath/testbed:v2', evidence: 'testbed' },
      },
      'kargs-remove-nic-el10': { rpmOstreeHost: { status: 'failed', detail: 'exit 1: error: Unknown option --remove', evidence: 'real' } },
      'ex-deploy-from-self': { rpmOstreeHost: { status: 'not-possible', detail: 'no podman on the testbed', evidence: 'testbed' } },
    });
    expect(table.rows.map((r) => r.id)).to.deep.equal(calls.calls.map((c) => c.id));
    const rebase = table.rows.find((r) => r.id === 'rebase-registry')!;
    expect(rebase.call).to.equal('rpm-ostree rebase --experimental ostree-unverified-registry:<image>');
    expect(rebase.functions).to.equal('rpm-ostree.go RebaseLayered, update.go updateLayeredOS');
    expect(rebase.bootcEquivalent).to.match(/^`bootc switch <image>` \(/u);
    expect(rebase.cells.bootcDriver.text).to.equal('`bootc switch localhost/bootpath/testbed:v2`: ok [testbed]');
    const el10 = table.rows.find((r) => r.id === 'kargs-remove-nic-el10')!;
    expect(el10.cells.rpmOstreeHost.text).to.equal('failed (exit 1: error: Unknown option --remove)');
    expect(el10.cells.afterSwitch).to.deep.equal({ text: 'not run', outcome: null });
    expect(table.rows.find((r) => r.id === 'ex-deploy-from-self')!.cells.rpmOstreeHost.text).to.equal('not possible here (no podman on the testbed) [testbed]');
    expect(table.unknownCalls).to.deep.equal([]);
  });

  it('renders markdown with a none marker, escaped pipes, and the pinned sources', () => {
    const table = buildQ1Table(calls, { 'cleanup-pending': { rpmOstreeHost: { status: 'failed', detail: 'a | b', evidence: 'real' } }, 'no-such-call': {} });
    const lines = table.markdown.split('\n');
    expect(lines[0]).to.equal('| Call | MCO function | bootc equivalent | rpm-ostree host | after bootc switch | driver: bootc |');
    expect(lines.filter((l) => l.startsWith('| `'))).to.have.length(calls.calls.length);
    const cleanup = lines.find((l) => l.startsWith('| `rpm-ostree cleanup -p`'))!;
    expect(cleanup).to.include('| **none**: No public verb');
    expect(cleanup).to.include('failed (a \\| b)');
    expect(table.markdown).to.include('MCO `7ff337a4` (2026-08-20), bootc v1.16.9.');
    expect(table.unknownCalls).to.deep.equal(['no-such-call']);
  });
});
