import { expect } from 'chai';
import { Type } from '@sinclair/typebox';
import { checkValue } from '../../core/schema-check.js';
import { loadCalls } from '../../harness/mcd/calls.js';
import { mcoDataFrom, type McoData } from '../../harness/mcd/expand.js';
import { mcdStepSchema, toOperation, type McdStep } from '../../harness/mcd/step-schema.js';

const schema = mcdStepSchema({ record: Type.Optional(Type.String()) });
const problems = (v: unknown) => checkValue(schema, v, { deferInterpolation: false }).map((p) => `${p.path.join('.')}: ${p.message}`);

describe('mcd step schema', () => {
  let data: McoData;
  before(async () => {
    data = mcoDataFrom(await loadCalls());
  });

  it('accepts each operation and names the unknown ones', () => {
    expect(problems({ mcd: 'apply-os-changes', driver: 'bootc', image: 'x', kargs: { old: ['a'], new: ['b'] }, 'kernel-type': { new: 'realtime' }, record: 'q5' })).to.deep.equal([]);
    expect(problems({ mcd: 'persist-nic-names', os: 'el10' })).to.deep.equal([]);
    expect(problems({ mcd: 'apply-os-change' })).to.deep.equal([
      "mcd: unknown mcd operation 'apply-os-change' (did you mean 'apply-os-changes'?); expected one of: apply-os-changes, firstboot, validate, remove-rollback, status, persist-nic-names, update-via-container, update-tuning-args, initialize-control-plane",
    ]);
    expect(problems({ mcd: 'apply-os-changes', 'kernel-type': { new: 'rt' } })[0]).to.match(/^kernel-type.new: invalid value 'rt'/u);
  });

  it('apply-os-changes: the old image defaults to the booted one; extension packages can be replaced', () => {
    const step: McdStep = { mcd: 'apply-os-changes', image: 'v2', extensions: { new: ['usbguard'] }, 'extension-packages': { usbguard: ['tree'] } };
    const { operation, data: d } = toOperation(step, 'v1', data);
    expect(operation).to.deep.equal({
      operation: 'apply-os-changes',
      driver: 'rpm-ostree',
      old: { image: 'v1', kargs: [], extensions: [], kernelType: 'default' },
      new: { image: 'v2', kargs: [], extensions: ['usbguard'], kernelType: 'default' },
      extensionsSource: null,
      imageSource: 'probe',
    });
    expect(d.extensions.usbguard).to.deep.equal(['tree']);
    expect(d.extensions.sysstat).to.deep.equal(['sysstat']);
  });

  it('persist-nic-names defaults to the MCD root', () => {
    expect(toOperation({ mcd: 'persist-nic-names', os: 'el9' }, 'v1', data).operation).to.deep.equal({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el9', root: '/', givenKargs: null });
  });
});
