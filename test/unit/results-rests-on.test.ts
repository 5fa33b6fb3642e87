import { expect } from 'chai';
import { behavioursOf, fidelityTable, modelledVersions, parseToolCommand } from '../../images/testbed/fidelity.js';
import { shJoin, shSplitJoined } from '../../harness/guest/quote.js';
import { restsOnFor } from '../../harness/results/rests-on.js';
import type { Finding, StepResult } from '../../harness/results/model.js';
import { testbedDisclaimer } from '../../harness/results/testbed.js';

const ids = (argv: string[]) => behavioursOf(argv).map((b) => b.id);

function step(index: number, command: string, extra: Partial<StepResult> = {}): StepResult {
  return { index, label: command, kind: 'run', machine: 'default', status: 'passed', startedAt: '2026-12-03T00:00:00Z', durationMs: 1, command, ...extra };
}

function finding(stepIndex: number, kind: Finding['kind']): Finding {
  return { id: 'f', runId: 'r', scenario: 's', cell: {}, questions: ['Q3'], step: stepIndex, label: 'l', kind, outcome: 'x', ok: true, testbed: true } as Finding;
}

describe('what testbed findings rest on (images/testbed/fidelity.yaml)', () => {
  it('splits what shJoin joined back into the same argv, and refuses what it would not produce', () => {
    for (const argv of [['bootc', 'switch', '--', 'quay.io/x:1'], ['run', "it's", 'a b', '$(id)', ''], ['rpm-ostree', 'kargs', '--append=a=b c']]) {
      expect(shSplitJoined(shJoin(argv)), JSON.stringify(argv)).to.deep.equal(argv);
    }
    expect(shSplitJoined("bootc 'unterminated")).to.equal(null);
  });

  it('reads tool, verb and options off a command line; other programs are not stand-ins', () => {
    expect(parseToolCommand(['rpm-ostree', 'install', '--reboot', '--', 'strace'])).to.deep.equal({ tool: 'rpm-ostree', verb: 'install', options: ['--reboot'] });
    expect(parseToolCommand(['bootc', 'switch', '--transport=containers-storage', '--', 'img'])).to.deep.equal({ tool: 'bootc', verb: 'switch', options: ['--transport'] });
    expect(parseToolCommand(['rpm-ostree', '--version'])).to.deep.equal({ tool: 'rpm-ostree', verb: '--version', options: ['--version'] });
    expect(parseToolCommand(['systemctl', 'reboot'])).to.equal(null);
  });

  it('a verb rests on its main entry and its option-less rules; an option adds its own entry; refused entries only when used', () => {
    const sw = ids(['bootc', 'switch', '--', 'img']);
    expect(sw[0]).to.equal('bootc.switch');
    expect(sw).to.include.members(['bootc.switch.layered', 'bootc.kargs']);
    expect(sw).to.not.include('bootc.switch.unsupported');
    expect(ids(['bootc', 'switch', '--soft-reboot', '--', 'img'])).to.include('bootc.switch.unsupported');
    expect(ids(['bootc', 'upgrade', '--check'])).to.include('bootc.upgrade.check');
    expect(ids(['bootc', 'upgrade'])).to.not.include('bootc.upgrade.check');
    expect(ids(['rpm-ostree', 'rollback'])).to.include.members(['rpm-ostree.rollback', 'rpm-ostree.rollback.staged']);
    expect(ids(['podman', 'pull', 'x'])).to.deep.equal([]);
  });

  it('an action finding rests on its own command first, then on what ran before it; a state check also on the status readers', () => {
    const steps = [step(0, 'rpm-ostree install --reboot -- strace'), step(1, 'bootc switch -- localhost/bootpath/testbed:v2'), step(2, 'true', { kind: 'expect', command: undefined }), step(3, 'bootc rollback', { status: 'skipped' })];
    const action = restsOnFor(finding(1, 'action'), steps);
    expect(action[0]!.id).to.equal('bootc.switch');
    expect(action.map((r) => r.id)).to.include('rpm-ostree.install');
    expect(action.map((r) => r.id)).to.not.include.members(['rpm-ostree.status.json', 'bootc.rollback']);
    const state = restsOnFor(finding(2, 'expectation'), steps);
    expect(state.map((r) => r.id)).to.include.members(['rpm-ostree.status.json', 'bootc.status', 'bootc.switch', 'rpm-ostree.install']);
    expect(new Set(state.map((r) => r.id)).size).to.equal(state.length);
    // Each names a pinned source or says why not.
    for (const r of [...action, ...state]) {
      if (r.source === null) expect(r.unverified, r.id).to.be.a('string').and.not.equal('');
      else expect(r.source, r.id).to.match(/^\S+\/\S+ v[\d.]+ \S+ .+/);
    }
  });

  it('an mcd step rests on the daemon commands that ran, not on the ones it skipped', () => {
    const mcdStep = step(0, 'mcd apply-os-changes', {
      kind: 'mcd',
      command: undefined,
      mcd: {
        operation: 'apply-os-changes',
        driver: 'bootc',
        phase: 'bootcDriver',
        outcome: 'completed',
        mcoCommit: 'x',
        backoffScale: 0.1,
        items: [
          { id: 'a', kind: 'command', part: 'sequence', call: 'bootc-switch', command: 'bootc switch -- img', follows: { file: 'f', function: 'g' }, status: 'ok', message: '' },
          { id: 'b', kind: 'command', part: 'sequence', call: 'rpm-ostree-rollback', command: 'rpm-ostree rollback', follows: { file: 'f', function: 'g' }, status: 'skipped', message: '' },
        ],
      },
    });
    const r = restsOnFor(finding(0, 'action'), [mcdStep]).map((x) => x.id);
    expect(r).to.include('bootc.switch');
    expect(r).to.not.include('rpm-ostree.rollback');
  });

  it('the testbed banner names the modelled versions from the table', () => {
    const v = fidelityTable().versions;
    const text = testbedDisclaimer((t) => t);
    expect(modelledVersions()).to.equal(`stand-ins model bootc ${v['bootc']!.tag.slice(1)} and rpm-ostree ${v['rpm-ostree']!.tag.slice(1)}; libostree ${v['libostree-guest']!.tag.slice(1)} and Ignition ${v['ignition-guest']!.tag.slice(1)} run for real in the guest`);
    expect(text).to.include('stand-ins model bootc 1.16.9 and rpm-ostree 2026.2');
    expect(text).to.include('not evidence about real rpm-ostree or bootc');
  });
});
