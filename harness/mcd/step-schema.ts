/**
 * The proposed `mcd:` step: its scenario fields (TypeBox, in the style of harness/scenario/schema.ts)
 * and the conversion to the McdOperation that expand() takes. The step-kind file passes the keys
 * every step carries (`commonStepKeys`) into `mcdStepSchema`, so this module does not depend on the
 * scenario schema.
 */
import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import type { McoData, MachineConfigOs, McdOperation } from './expand.js';
import type { KernelType } from './plan.js';

const Strings = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });
const Image = Type.String({ minLength: 1, description: 'An OS container image reference (MCO uses digests).' });
const Driver = Type.Optional(
  Type.Union([Type.Literal('rpm-ostree'), Type.Literal('bootc')], { description: "rpm-ostree: today's daemon; bootc: bootc applies the image and reports status, rpm-ostree does the rest. Default rpm-ostree." }),
);
const KernelTypeSchema = Type.Union([Type.Literal('default'), Type.Literal('realtime'), Type.Literal('64k-pages')]);
const OldNew = <T extends TSchema>(item: T, description: string) =>
  Type.Object({ old: Type.Optional(item), new: Type.Optional(item) }, { additionalProperties: false, description });
const ExtensionsSource = Type.Union(
  [
    Type.Object({ image: Image }, { additionalProperties: false }),
    Type.Object({ dir: Type.String({ minLength: 1, description: 'A directory already holding the extensions content (usr/share/rpm-ostree/extensions/).' }) }, { additionalProperties: false }),
  ],
  { description: 'Where the [coreos-extensions] repo comes from: the extensions container, or an extracted directory.' },
);
const ImageSource = Type.Optional(
  Type.Union([Type.Literal('probe'), Type.Literal('registry'), Type.Literal('containers-storage')], {
    description: "probe (default): the daemon's podman images check picks the rebase form; registry / containers-storage force one.",
  }),
);
const ExtensionPackages = Type.Optional(
  Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), {
    description: 'Replace the packages of named extensions (stand-in packages on the testbed); recorded in the plan.',
  }),
);

const osFields = {
  'extensions-source': Type.Optional(ExtensionsSource),
  'image-source': ImageSource,
  'extension-packages': ExtensionPackages,
};

export function mcdStepSchema<C extends TProperties>(common: C) {
  const op = <N extends string, P extends TProperties>(name: N, props: P, description: string) =>
    Type.Object({ mcd: Type.Literal(name), driver: Driver, ...props, ...common }, { additionalProperties: false, 'x-action': 'mcd', description });
  return Type.Union(
    [
      op(
        'apply-os-changes',
        {
          image: Type.Optional(Type.Union([Image, OldNew(Image, 'old defaults to the booted image')])),
          kargs: Type.Optional(OldNew(Strings('MachineConfig kernelArguments'), 'MachineConfig kernelArguments, old and new')),
          extensions: Type.Optional(OldNew(Strings('MachineConfig extensions'), 'MachineConfig extensions, old and new')),
          'kernel-type': Type.Optional(OldNew(KernelTypeSchema, 'MachineConfig kernelType, old and new')),
          ...osFields,
        },
        'applyOSChanges/applyLayeredOSChanges: the daemon applying a MachineConfig OS change',
      ),
      op(
        'firstboot',
        { image: Image, kargs: Type.Optional(Strings('the target kernelArguments')), extensions: Type.Optional(Strings('the target extensions')), 'kernel-type': Type.Optional(KernelTypeSchema), ...osFields },
        'RunFirstbootCompleteMachineconfig: --version, the running kargs, then the OS change; ends in a reboot',
      ),
      op(
        'validate',
        { image: Image, kargs: Type.Optional(Strings('expected kernelArguments')), extensions: Type.Optional(Strings('expected extensions')), 'extension-packages': ExtensionPackages },
        'validateOnDiskState and verifyExtensionPackages after a reboot',
      ),
      op('remove-rollback', {}, 'removeRollback: rpm-ostree cleanup -r'),
      op('status', {}, 'the status reads: status --json, text status, --version'),
      op(
        'persist-nic-names',
        {
          os: Type.Optional(Type.Union([Type.Literal('el9'), Type.Literal('el10')], { description: "Force the branch; default: the host's /etc/os-release (IsEL9 / IsEL10), as the daemon reads it" })),
          root: Type.Optional(Type.String({ minLength: 1, description: '/ (the MCD) or /rootfs (firstboot --persist-nics); default /' })),
          'nmstate-kargs': Type.Optional(Strings('Where nmstatectl is not on the host (the testbed): the kargs it would write to --kargs-out; nmstatectl is then not run, and the record says so')),
        },
        'PersistNetworkInterfaces: nmstatectl persist-nic-names, then rpm-ostree kargs',
      ),
      op('update-via-container', { image: Image }, 'InplaceUpdateViaNewContainer: rpm-ostree ex deploy-from-self from the new image'),
      op('update-tuning-args', {}, 'UpdateTuningArgs: /etc/pivot/kernel-args as rpm-ostree kargs --append=/--delete='),
      op('initialize-control-plane', {}, 'initializeNode on a control-plane node: ostree config set core.per-object-fsync true'),
    ],
    { 'x-action': 'mcd', 'x-discriminator': 'mcd' },
  );
}

const _fieldsOnly = mcdStepSchema({});
/** A step's `mcd:` fields (the common step keys are ignored here). */
export type McdStep = Static<typeof _fieldsOnly>;

const kt = (k: KernelType | undefined): KernelType => k ?? 'default';

/**
 * The operation for a validated step. `bootedImage` fills apply-os-changes' old image when the step
 * gives only the new one (the node is in its current config). Returns the MCO data to use: the
 * pinned tables, with any `extension-packages` replacement applied.
 */
export function toOperation(step: McdStep, bootedImage: string, data: McoData): { operation: McdOperation; data: McoData } {
  const driver = step.driver ?? 'rpm-ostree';
  const withPackages = (over: Record<string, string[]> | undefined): McoData => (over ? { ...data, extensions: { ...data.extensions, ...over } } : data);
  switch (step.mcd) {
    case 'apply-os-changes': {
      const image = typeof step.image === 'string' ? { old: bootedImage, new: step.image } : { old: step.image?.old ?? bootedImage, new: step.image?.new ?? step.image?.old ?? bootedImage };
      const side = (which: 'old' | 'new'): MachineConfigOs => ({
        image: image[which],
        kargs: step.kargs?.[which] ?? [],
        extensions: step.extensions?.[which] ?? [],
        kernelType: kt(step['kernel-type']?.[which]),
      });
      return {
        operation: { operation: 'apply-os-changes', driver, old: side('old'), new: side('new'), extensionsSource: step['extensions-source'] ?? null, imageSource: step['image-source'] ?? 'probe' },
        data: withPackages(step['extension-packages']),
      };
    }
    case 'firstboot':
      return {
        operation: {
          operation: 'firstboot',
          driver,
          target: { image: step.image, kargs: step.kargs ?? [], extensions: step.extensions ?? [], kernelType: kt(step['kernel-type']) },
          extensionsSource: step['extensions-source'] ?? null,
          imageSource: step['image-source'] ?? 'probe',
        },
        data: withPackages(step['extension-packages']),
      };
    case 'validate':
      return { operation: { operation: 'validate', driver, config: { image: step.image, kargs: step.kargs ?? [], extensions: step.extensions ?? [], kernelType: 'default' } }, data: withPackages(step['extension-packages']) };
    case 'remove-rollback':
      return { operation: { operation: 'remove-rollback', driver }, data };
    case 'status':
      return { operation: { operation: 'status', driver }, data };
    case 'persist-nic-names':
      return { operation: { operation: 'persist-nic-names', driver, os: step.os ?? null, root: step.root ?? '/', givenKargs: step['nmstate-kargs'] ?? null }, data };
    case 'update-via-container':
      return { operation: { operation: 'update-via-container', driver, image: step.image }, data };
    case 'update-tuning-args':
      return { operation: { operation: 'update-tuning-args', driver }, data };
    case 'initialize-control-plane':
      return { operation: { operation: 'initialize-control-plane', driver }, data };
  }
}
