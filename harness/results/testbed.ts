/**
 * Testbed results test bootpath's emulation, not real rpm-ostree/bootc. Every output that shows
 * them says so in the same words, and every producer decides "is this testbed" the same way.
 */
import { modelledVersions } from '../../images/testbed/fidelity.js';
import type { RunPlan } from '../scenario/plan.js';

/** A catalog image built by bootpath's testbed builder. */
export function isTestbedImage(entry: { source: { kind: string } }): boolean {
  return entry.source.kind === 'testbed';
}

/** A plan with any machine on the testbed image: its findings are about the emulation. */
export function isTestbed(plan: Pick<RunPlan, 'machines'>): boolean {
  return plan.machines.some((m) => isTestbedImage(m.image.entry));
}

/** The short tag next to a run, scenario or finding. */
export const TESTBED_LABEL = 'testbed (emulated tools)';

/** One sentence, for terminals, JUnit properties and dry runs. */
export const TESTBED_NOTE = 'testbed: emulated rpm-ostree/bootc; results test bootpath, they are not evidence about real bootc';

/** The report banner; `em` is the renderer's emphasis (Markdown bold, HTML <b>, already escaped). */
export function testbedDisclaimer(em: (text: string) => string): string {
  return `${em(`${TESTBED_LABEL}.`)} Runs marked testbed used bootpath's own Debian/OSTree image with stand-in rpm-ostree and bootc commands (${modelledVersions()}; each finding names the stand-in behaviours it rests on, from images/testbed/fidelity.yaml). They test bootpath itself; they are ${em('not')} evidence about real rpm-ostree or bootc behaviour.`;
}
