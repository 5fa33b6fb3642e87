/**
 * Reporter names, kept apart from the reporters themselves so that argument parsing can check
 * `--reporter` without loading every renderer. The table in registry.ts must cover exactly these.
 */
export const LIVE_REPORTERS = ['tty', 'line', 'quiet'] as const;
export const OUTPUT_REPORTERS = ['summary.json', 'junit', 'report.md', 'report.html', 'github'] as const;
export const REPORTER_NAMES = [...LIVE_REPORTERS, ...OUTPUT_REPORTERS] as const;

export type LiveReporterName = (typeof LIVE_REPORTERS)[number];
export type OutputReporterName = (typeof OUTPUT_REPORTERS)[number];
export type ReporterName = (typeof REPORTER_NAMES)[number];

export function isReporterName(name: string): name is ReporterName {
  return (REPORTER_NAMES as readonly string[]).includes(name);
}

export function isLiveReporter(name: ReporterName): name is LiveReporterName {
  return (LIVE_REPORTERS as readonly string[]).includes(name);
}
