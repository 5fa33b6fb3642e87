/**
 * Where things go inside results/<run-id>/ (README "Results layout").
 *
 *   summary.json        the whole run (rewritten atomically after every scenario run)
 *   junit.xml           one testsuite per scenario, one testcase per matrix run
 *   report.md/.html     the answers, per question
 *   runs/<run-slug>/    plan.json, steps.jsonl, state-<n>.json, commands.log,
 *                       machine-<name>/console-<n>.log
 */
import path from 'node:path';

export function runSlug(planId: string, attempt = 1): string {
  const slug = planId
    .replace(/\[/g, '--')
    .replace(/\]/g, '')
    .replace(/[=,]/g, '-')
    .replace(/[^A-Za-z0-9._-]+/g, '_');
  return attempt > 1 ? `${slug}.retry-${attempt - 1}` : slug;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export interface ResultsPaths {
  root: string;
  runDir: string;
  summary: string;
  junit: string;
  reportMd: string;
  reportHtml: string;
  latest: string;
  runFolder(planId: string, attempt: number): string;
}

export function resultsPaths(root: string, runId: string): ResultsPaths {
  const runDir = path.join(root, runId);
  return {
    root,
    runDir,
    summary: path.join(runDir, 'summary.json'),
    junit: path.join(runDir, 'junit.xml'),
    reportMd: path.join(runDir, 'report.md'),
    reportHtml: path.join(runDir, 'report.html'),
    latest: path.join(root, 'latest'),
    runFolder: (planId, attempt) => path.join(runDir, 'runs', runSlug(planId, attempt)),
  };
}
