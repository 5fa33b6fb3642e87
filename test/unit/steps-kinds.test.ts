import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { executeStep } from '../../harness/run/steps.js';
import { STEP_KIND_NAMES } from '../../harness/steps/registry.js';
import type { StepKind } from '../../harness/steps/registry.js';
import { FakeGuest, type FakeGuestOptions } from '../support/fake-guest.js';
import { fakeEnv, plansFor, scenarioDir } from '../support/step-env.js';
import { fixture, hostStateFrom } from '../support/host-state.js';

const state = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-clean-container.json'), bootc: fixture('state', 'bootc-a-booted-only.json'), kargs: ['root=LABEL=root', 'rw'] });

/** Run the scenario's steps in order on one fake guest; returns the outcomes and the guest. */
async function runSteps(name: string, steps: string, guest: Partial<FakeGuestOptions> = {}) {
  const dir = await scenarioDir();
  try {
    await fs.writeFile(path.join(dir, 'payload.txt'), 'payload\n');
    const [plan] = await plansFor(dir, name, steps);
    const fake = new FakeGuest({ states: [state], ...guest });
    const env = fakeEnv(plan!, { default: fake }, path.join(dir, 'run'));
    const outcomes = [];
    for (const step of plan!.steps) outcomes.push(await executeStep(step, env));
    return { outcomes, fake, env, plan: plan!, dir };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** One executor check per registered kind; the first test keeps this list complete. */
const KIND_CHECKS: Record<StepKind, () => Promise<void>> = {
  async run() {
    const { outcomes, fake } = await runSteps('k-run', '  - run: echo hi\n    stdout: { contains: hi }\n  - run: echo hi\n    stdout: { contains: bye }\n', { script: [{ match: /^echo hi$/, stdout: 'hi\n' }] });
    expect(outcomes.map((o) => o.result.status)).to.deep.equal(['passed', 'failed']);
    expect(outcomes[1]!.result.message).to.contain('stdout does not contain "bye"');
    expect(fake.session0.calls.map((c) => c.command)).to.deep.equal(['echo hi', 'echo hi']);
  },
  async reboot() {
    const { outcomes, fake } = await runSteps('k-reboot', '  - reboot\n  - reboot: { via: qmp-reset }\n  - reboot\n', { reboots: ['ok', 'ok', 'did-not-come-back'] });
    expect(outcomes.map((o) => o.result.status)).to.deep.equal(['passed', 'passed', 'failed']);
    expect(fake.rebootTriggers).to.deep.equal([false, true, false]);
    expect(fake.resets).to.equal(1);
    expect(outcomes[0]!.result.stateIndex).to.be.a('number');
    expect(outcomes[2]!.result.message).to.equal('fake reboot: did-not-come-back');
  },
  async 'rpm-ostree'() {
    const { outcomes, fake, plan } = await runSteps('k-rpm-ostree', '  - rpm-ostree: install\n    packages: [strace]\n    reboot: true\n  - rpm-ostree: kargs\n    append: [a=1]\n    delete: [b]\n');
    expect(plan.steps.map((s) => s.label)).to.deep.equal(['rpm-ostree install --reboot -- strace', 'rpm-ostree kargs --delete=b --append=a=1']);
    // reboot: true makes the command the reboot trigger: the step waits for the new boot.
    expect(fake.rebootTriggers).to.deep.equal([true]);
    expect(fake.bootCount).to.equal(2);
    expect(fake.session0.calls.map((c) => [c.command, c.sudo])).to.deep.equal([
      ['rpm-ostree install --reboot -- strace', true],
      ['rpm-ostree kargs --delete=b --append=a=1', true],
    ]);
    expect(outcomes.map((o) => o.result.status)).to.deep.equal(['passed', 'passed']);
    expect(outcomes.every((o) => o.result.stateIndex !== undefined)).to.equal(true);
  },
  async bootc() {
    const { outcomes } = await runSteps('k-bootc', '  - bootc: upgrade\n    expect-failure: { stderr: layered }\n  - bootc: switch\n    image: quay.io/x:1\n    record: switched\n', {
      script: [{ match: /^bootc upgrade$/, exitCode: 1, stderr: 'refusing: host is layered' }],
    });
    expect(outcomes[0]!.result).to.include({ status: 'passed', expectedFailure: true, exitCode: 1 });
    expect(outcomes[1]!.result).to.include({ status: 'recorded', findingId: 'switched', command: 'bootc switch -- quay.io/x:1' });
    expect(outcomes[1]!.finding).to.include({ id: 'switched', kind: 'action', ok: true, outcome: 'succeeded (exit 0)' });
  },
  async update() {
    const { fake, plan } = await runSteps('k-update', '  - update: { via: rpm-ostree, image: quay.io/x:2, apply: true }\n');
    expect(plan.steps[0]!.label).to.equal('update via rpm-ostree: rpm-ostree rebase --experimental ostree-unverified-registry:quay.io/x:2 --reboot');
    expect(fake.rebootTriggers).to.deep.equal([true]);
  },
  async mcd() {
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    const status = JSON.stringify({ deployments: [{ booted: true, 'container-image-reference': 'ostree-unverified-registry:quay.io/x:1', checksum: 'c', 'requested-packages': [], 'requested-base-removals': [] }] });
    const facts = [
      `status 0 ${b64(status)}`,
      `os-release 0 ${b64('ID=rhcos\nVARIANT_ID=coreos\nRHEL_VERSION=9.6\n')}`,
      `arch 0 ${b64('x86_64')}`,
      `version 0 ${b64("rpm-ostree:\n Version: '2026.2'\n Features:\n  - container\n")}`,
      `kargs 0 ${b64('root=x rw a=1')}`,
      `mokutil 0 ${b64('SecureBoot disabled')}`,
    ].join('\n');
    const { outcomes, fake } = await runSteps('k-mcd', '  - mcd: apply-os-changes\n    image: quay.io/x:2\n    image-source: registry\n    kargs: { old: [a=1], new: [a=2] }\n    record: applied\n  - bootc: switch\n    image: quay.io/x:2\n  - mcd: remove-rollback\n    expect-failure: true\n', {
      script: [
        { match: /^sh -c /, stdout: facts },
        { match: /^rpm-ostree cleanup -r$/, exitCode: 1, stderr: 'error: no rollback' },
      ],
    });
    const applied = outcomes[0]!;
    // The daemon's order (update.go applyLayeredOSChanges → queueRevertKernelSwap → updateLayeredOS → updateKernelArguments), all as root.
    expect(fake.session0.calls.filter((c) => c.argv?.[0] !== 'sh').slice(0, 6).map((c) => [c.command, c.sudo])).to.deep.equal([
      ['rpm-ostree cleanup -p', true],
      ['rpm-ostree status --json', true],
      ['mokutil --sb-state', true],
      ['rpm-ostree --version', true],
      ['rpm-ostree rebase --experimental ostree-unverified-registry:quay.io/x:2', true],
      ['rpm-ostree kargs --delete-if-present=a=1 --append=a=2', true],
    ]);
    expect(applied.result).to.deep.include({ status: 'recorded', findingId: 'applied', command: 'mcd apply-os-changes → quay.io/x:2' });
    expect(applied.result.mcd).to.deep.include({ operation: 'apply-os-changes', driver: 'rpm-ostree', phase: 'rpmOstreeHost', outcome: 'completed', backoffScale: 0.1 });
    expect(applied.result.mcd?.items.find((i) => i.call === 'rebase-registry')).to.deep.include({ status: 'ok', attempts: 1, follows: { file: 'pkg/daemon/rpm-ostree.go', function: 'RebaseLayered' } });
    expect(applied.finding).to.deep.include({ kind: 'action', ok: true, outcome: 'completed (6 commands)' });
    expect(applied.result.stateIndex).to.be.a('number');
    // After a bootc switch the same daemon is the "after switch" column; the refused cleanup -r is its error.
    const rollback = outcomes[2]!;
    expect(rollback.result.status).to.equal('passed');
    expect(rollback.result.mcd).to.deep.include({ phase: 'afterSwitch', outcome: 'daemon-error', error: 'rpm-ostree cleanup -r: exit 1: error: no rollback' });
  },
  async expect() {
    const { outcomes, fake } = await runSteps('k-expect', '  - expect: { kargs: { has: [rw] } }\n  - expect: { kargs: { has: [quiet] }, files: { present: [/etc/x] } }\n', {
      script: [{ match: /^sh -c /, stdout: '1\n' }],
    });
    expect(outcomes.map((o) => o.result.status)).to.deep.equal(['passed', 'failed']);
    expect(outcomes[1]!.result.message).to.contain('quiet');
    // Nothing ran between the two expects: one state read serves both.
    expect(fake.stateReads).to.equal(1);
    expect(fake.session0.calls.at(-1)!.argv).to.deep.equal(['sh', '-c', 'for p do if [ -e "$p" ]; then echo 1; else echo 0; fi; done', 'sh', '/etc/x']);
  },
  async record() {
    const { outcomes } = await runSteps('k-record', '  - record: seen\n    observe: [kargs]\n    note: why\n');
    expect(outcomes[0]!.result.status).to.equal('recorded');
    expect(outcomes[0]!.finding).to.deep.include({ id: 'seen', kind: 'observation', ok: null, note: 'why', observed: { kargs: ['root=LABEL=root', 'rw'] } });
  },
  async wait() {
    const { outcomes } = await runSteps('k-wait', '  - wait: 100ms\n  - wait: { console: "login:" }\n  - wait: { command: test -e /ready, interval: 100ms }\n', {
      console: 'Fedora\nhost login: ',
      script: [{ match: /^test -e \/ready$/, exitCode: 0 }],
    });
    expect(outcomes.map((o) => o.result.status)).to.deep.equal(['passed', 'passed', 'passed']);
  },
  async copy() {
    const dir = await scenarioDir();
    try {
      await fs.writeFile(path.join(dir, 'payload.txt'), 'payload\n');
      const [plan] = await plansFor(dir, 'k-copy', '  - copy: { src: payload.txt, dest: /tmp/p, mode: "0600" }\n  - copy: { src: /tmp/p, dest: back/p.txt, direction: from-guest }\n');
      const fake = new FakeGuest({ states: [state] });
      const env = fakeEnv(plan!, { default: fake }, path.join(dir, 'run'));
      const outcomes = [];
      for (const step of plan!.steps) outcomes.push(await executeStep(step, env));
      expect(outcomes.map((o) => o.result.status)).to.deep.equal(['passed', 'passed']);
      expect(fake.session0.files.get('/tmp/p')).to.equal('payload\n');
      expect(fake.session0.calls[0]!.argv).to.deep.equal(['chmod', '0600', '--', '/tmp/p']);
      expect(await fs.readFile(path.join(dir, 'run', 'files', 'back', 'p.txt'), 'utf8')).to.equal('payload\n');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  },
};

describe('step kinds against a fake guest', () => {
  it('has an executor check for every registered kind', () => {
    expect(Object.keys(KIND_CHECKS).sort()).to.deep.equal([...STEP_KIND_NAMES].sort());
  });

  for (const kind of STEP_KIND_NAMES) {
    it(`runs ${kind} steps`, KIND_CHECKS[kind]);
  }

  it('a timed-out command fails the step even when failure was expected', async () => {
    const { outcomes } = await runSteps('k-timeout', '  - run: sleep 99\n    expect-failure: true\n', { script: [{ match: /sleep/, timedOut: true }] });
    expect(outcomes[0]!.result.status).to.equal('failed');
    expect(outcomes[0]!.result.message).to.match(/^timed out/);
  });

  it('expect-failure on a command that succeeds fails the step', async () => {
    const { outcomes } = await runSteps('k-unexpected', '  - bootc: upgrade\n    expect-failure: true\n');
    expect(outcomes[0]!.result.message).to.equal('expected the command to fail, but it succeeded (exit 0)');
  });

  it('a plain wait honours abort', async () => {
    const dir = await scenarioDir();
    try {
      const [plan] = await plansFor(dir, 'k-abort', '  - wait: 1h\n');
      const ctl = new AbortController();
      const env = { ...fakeEnv(plan!, { default: new FakeGuest({ states: [state] }) }, dir), signal: ctl.signal };
      const started = Date.now();
      setTimeout(() => ctl.abort(new Error('stopped')), 10);
      let error: unknown;
      await executeStep(plan!.steps[0]!, env).catch((e: unknown) => (error = e));
      expect((error as Error).message).to.equal('stopped');
      expect(Date.now() - started).to.be.below(1000);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
