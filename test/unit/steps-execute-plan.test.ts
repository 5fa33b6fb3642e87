import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { EventBus, type RunnerEvent } from '../../harness/run/events.js';
import { executePlan, MACHINE_CAUSE_GRACE_MS, type PlanDeps } from '../../harness/run/execute-plan.js';
import { scaledTimeouts } from '../../harness/run/timeouts.js';
import type { RunPlan } from '../../harness/scenario/plan.js';
import { FakeGuest, type FakeGuestOptions } from '../support/fake-guest.js';
import { fixture, hostStateFrom } from '../support/host-state.js';
import { plansFor, scenarioDir } from '../support/step-env.js';
import { RunSecrets } from '../../vm/run-secrets.js';

const before = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-clean-container.json'), bootc: fixture('state', 'bootc-a-booted-only.json') });
const after = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-layered-staged.json'), bootc: fixture('state', 'bootc-b-staged.json') });

describe('executePlan against a fake guest', () => {
  let dir: string;
  beforeEach(async () => (dir = await scenarioDir()));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  async function execute(plan: RunPlan, guest: Partial<FakeGuestOptions>, extra: Partial<PlanDeps<FakeGuest>> = {}) {
    const fakes: FakeGuest[] = [];
    const events: RunnerEvent[] = [];
    const runDir = path.join(dir, 'results', 'runs', plan.id);
    const outcome = await executePlan(plan, {
      startGuest: async (o) => {
        const g = new FakeGuest({ states: [before], ...guest, name: o.plan.name });
        fakes.push(g);
        return g;
      },
      runId: 'r1',
      dir: runDir,
      attempt: 1,
      accel: 'kvm',
      parallel: 1,
      backend: 'qemu',
      timeouts: scaledTimeouts(1),
      keep: 'never',
      clientKey: { privateKeyPath: '/nonexistent', publicKeyPath: '/nonexistent.pub', publicKey: 'ssh-ed25519 AAAA test', publicKeyBlob: 'AAAA', keyType: 'ssh-ed25519' },
      resolveImage: async (_p, name) => ({ name, diskPath: '/nonexistent.qcow2', format: 'qcow2', firmware: 'bios', provenance: { image: 'testbed', source: 'testbed', cacheHit: true, verifiedAt: new Date(0).toISOString() } }),
      secrets: await RunSecrets.create('r1', path.join(dir, 'state')),
      bus: new EventBus([{ name: 'test', onEvent: (e) => void events.push(e) }]),
      signal: new AbortController().signal,
      ...extra,
    });
    return { ...outcome, fakes, events, runDir };
  }

  it('runs the steps in order, re-reads the state after a change only, and writes steps.jsonl and state files', async () => {
    const [plan] = await plansFor(dir, 'p-pass', '  - expect: { system: running }\n  - rpm-ostree: install\n    packages: [strace]\n  - expect: { system: running }\n  - record: r\n    observe: [staged]\n');
    const { result, fakes, runDir, events } = await execute(plan!, { states: [before, after] });
    expect(result.verdict).to.equal('passed');
    expect(result.steps.map((s) => [s.kind, s.status])).to.deep.equal([['expect', 'passed'], ['rpm-ostree', 'passed'], ['expect', 'passed'], ['record', 'recorded']]);
    // First boot, then after the install: the expects and the record reuse those reads.
    expect(fakes[0]!.stateReads).to.equal(2);
    expect(result.steps.map((s) => s.stateIndex)).to.deep.equal([0, 1, 1, 1]);
    const lines = (await fs.readFile(path.join(runDir, 'steps.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { kind: string }).kind)).to.deep.equal(['expect', 'rpm-ostree', 'expect', 'record']);
    expect((await fs.readdir(runDir)).filter((f) => f.startsWith('state-')).sort()).to.deep.equal(['state-0.json', 'state-1.json']);
    expect(result.findings.map((f) => f.id)).to.deep.equal(['r']);
    expect(events.filter((e) => e.type === 'step:end')).to.have.length(4);
    expect(fakes[0]!.destroyed).to.equal(true);
  });

  it('stops at the first failed step and lists the rest as skipped', async () => {
    const [plan] = await plansFor(dir, 'p-fail', '  - run: "false"\n  - reboot\n');
    const { result, fakes } = await execute(plan!, { script: [{ match: /^false$/, exitCode: 1 }] });
    expect(result.verdict).to.equal('failed');
    expect(result.message).to.equal('step 1 (run: false): exit code 1, expected 0');
    expect(result.steps.map((s) => s.status)).to.deep.equal(['failed', 'skipped']);
    expect(fakes[0]!.rebootTriggers).to.deep.equal([]);
  });

  it('a step that throws ends the run as an error, with an error record for that step', async () => {
    const [plan] = await plansFor(dir, 'p-error', '  - copy: { src: /nowhere, dest: x, direction: from-guest }\n  - reboot\n');
    const { result } = await execute(plan!, {});
    expect(result.verdict).to.equal('error');
    expect(result.errorKind).to.equal('other');
    expect(result.message).to.equal('fake guest: no file /nowhere');
    expect(result.steps.map((s) => s.status)).to.deep.equal(['error', 'skipped']);
  });

  it('keeps the machines on failure when asked, and writes their known_hosts', async () => {
    const [plan] = await plansFor(dir, 'p-keep', '  - run: "false"\n');
    const { kept, fakes } = await execute(plan!, { script: [{ match: /^false$/, exitCode: 1 }] }, { keep: 'on-failure' });
    expect(kept).to.deep.equal(fakes);
    expect(fakes[0]!.destroyed).to.equal(false);
    expect(fakes[0]!.knownHostsWritten).to.equal(true);
  });

  it('the scenario timeout interrupts a long wait and is reported as timed-out', async () => {
    const [plan] = await plansFor(dir, 'p-timeout', '  - wait: 1h\n', 'timeout: 100ms\n');
    const started = Date.now();
    const { result } = await execute(plan!, {});
    expect(result.verdict).to.equal('timed-out');
    expect(result.steps.map((s) => s.status)).to.deep.equal(['error']);
    expect(Date.now() - started).to.be.below(2000);
  });

  it('a connection that drops because the machine died is reported as machine-died, with what the step saw', async () => {
    const [plan] = await plansFor(dir, 'p-died', '  - run: sleep 600\n  - reboot\n');
    const started = Date.now();
    const { result } = await execute(plan!, { script: [{ match: /^sleep 600$/, connectionLost: { machineDiesAfterMs: 80 } }] });
    expect(result.verdict).to.equal('error');
    expect(result.errorKind).to.equal('machine-died');
    expect(result.message).to.match(/^machine fake died: QEMU \(pid 4242\) killed by signal SIGKILL/);
    expect(result.message).to.include('what the step saw: SSH connection to 127.0.0.1:2222 dropped');
    expect(result.steps.map((s) => s.status)).to.deep.equal(['error', 'skipped']);
    expect(Date.now() - started).to.be.below(1500);
  });

  it('a connection that drops while the machine lives on stays an ssh error (after the grace period)', async () => {
    const [plan] = await plansFor(dir, 'p-dropped', '  - run: sleep 600\n');
    const started = Date.now();
    const { result } = await execute(plan!, { script: [{ match: /^sleep 600$/, connectionLost: { machineDiesAfterMs: null } }] });
    expect(result.verdict).to.equal('error');
    expect(result.errorKind).to.equal('ssh');
    expect(result.message).to.match(/^SSH connection to 127.0.0.1:2222 dropped/);
    expect(Date.now() - started).to.be.within(MACHINE_CAUSE_GRACE_MS - 50, MACHINE_CAUSE_GRACE_MS + 1500);
  });
});
