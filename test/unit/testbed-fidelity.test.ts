import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';
import { fidelityTable } from '../../images/testbed/fidelity.js';

const testbed = path.join(repoRoot, 'images', 'testbed');


type Surface = Record<string, Record<string, string[]>>;

const table = fidelityTable();

function cliSurface(): Surface {
  const r = spawnSync('python3', [path.join(testbed, 'tests', 'cli_surface.py')], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (r.error) throw new Error(`cannot run python3: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`cli_surface.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Surface;
}

/** The bullets of the README's `## Assumptions` section, continuation lines joined by a space. */
function readmeAssumptions(): string[] {
  const text = readFileSync(path.join(testbed, 'README.md'), 'utf8');
  const start = text.indexOf('\n## Assumptions\n');
  expect(start, 'README.md has an "## Assumptions" section').to.be.greaterThan(-1);
  const rest = text.slice(start + '\n## Assumptions\n'.length);
  const end = rest.search(/\n## /);
  const section = end === -1 ? rest : rest.slice(0, end);
  const bullets: string[] = [];
  for (const line of section.split('\n')) {
    if (line.startsWith('- ')) bullets.push(line.slice(2).trim());
    else if (line.startsWith('  ') && bullets.length > 0) bullets[bullets.length - 1] += ` ${line.trim()}`;
  }
  return bullets;
}

/** What the section must contain, wrapped like the rest of the README (for the failure message). */
function renderAssumptions(items: string[]): string {
  return items
    .map((item) => {
      const lines: string[] = [];
      let cur = '-';
      for (const word of item.split(' ')) {
        if (cur.length + 1 + word.length > 100 && cur.trim() !== '-') {
          lines.push(cur);
          cur = ' ';
        }
        cur += ` ${word}`;
      }
      lines.push(cur);
      return lines.join('\n');
    })
    .join('\n');
}

describe('testbed fidelity table (images/testbed/fidelity.yaml)', () => {
  const ids = new Set(table.behaviours.map((e) => e.id));

  it('has unique ids and well-formed entries', () => {
    expect(ids.size).to.equal(table.behaviours.length);
    for (const e of table.behaviours) {
      expect(['rpm-ostree', 'bootc'], e.id).to.include(e.tool);
      expect(e.verb, e.id).to.be.a('string').and.not.equal('');
      expect(e.behaviour, e.id).to.be.a('string').and.not.equal('');
      expect(Boolean(e.source) !== Boolean(e.unverified), `${e.id}: exactly one of source / unverified`).to.equal(true);
    }
  });

  it('every source names repository, path, function and a pinned tag of that repository', () => {
    const known = new Map<string, Set<string>>();
    for (const v of Object.values(table.versions)) {
      expect(v.commit, v.repo).to.match(/^[0-9a-f]{40}$/);
      known.set(v.repo, (known.get(v.repo) ?? new Set()).add(v.tag));
    }
    for (const e of table.behaviours) {
      if (!e.source) continue;
      const s = e.source;
      for (const k of ['repo', 'tag', 'path', 'function'] as const) expect(s[k], `${e.id}.source.${k}`).to.be.a('string').and.not.equal('');
      expect(known.has(s.repo), `${e.id}: repository ${s.repo} is listed under versions`).to.equal(true);
      // bootc's kernel_cmdline crate was read at the last tag that carried it in-tree
      const allowed = s.repo === 'bootc-dev/bootc' && s.path.startsWith('crates/kernel_cmdline/') ? new Set(['v1.16.0']) : known.get(s.repo);
      expect(allowed?.has(s.tag), `${e.id}: tag ${s.tag} of ${s.repo} is a pinned one`).to.equal(true);
    }
  });

  it('every unverified behaviour says what the README assumes, is refused, or points at the entry that does', () => {
    for (const e of table.behaviours) {
      if (!e.unverified || e.assumption || e.refused) continue;
      const ref = /^see ([\w.-]+)$/.exec(e.unverified);
      expect(ref && ids.has(ref[1] ?? ''), `${e.id}: unverified needs an assumption, refused: true or "see <id>"`).to.equal(true);
    }
  });

  it('covers every verb and option the stand-ins accept, and names none they do not', () => {
    const surface = cliSurface();
    const everyOption = new Set(Object.values(surface).flatMap((verbs) => Object.values(verbs).flat()));
    for (const [tool, verbs] of Object.entries(surface)) {
      for (const [verb, options] of Object.entries(verbs)) {
        const entries = table.behaviours.filter((e) => e.tool === tool && e.verb === verb);
        expect(entries.length, `${tool} ${verb} has an entry`).to.be.greaterThan(0);
        const listed = new Set(entries.flatMap((e) => e.options ?? []));
        for (const o of options) expect(listed.has(o), `${tool} ${verb} ${o} is in the table`).to.equal(true);
      }
    }
    for (const e of table.behaviours) {
      if (e.verb.startsWith('-')) continue; // the tool's own --version
      if (e.verb === '*') {
        for (const o of e.options ?? []) expect(everyOption.has(o), `${e.id}: ${o} is accepted somewhere`).to.equal(true);
        continue;
      }
      const accepted = surface[e.tool]?.[e.verb];
      expect(accepted, `${e.id}: ${e.tool} ${e.verb} is a verb the stand-in accepts`).to.not.equal(undefined);
      for (const o of e.options ?? []) expect(accepted, `${e.id}: ${e.tool} ${e.verb} accepts ${o}`).to.include(o);
    }
  });

  it("the testbed README's Assumptions section is the table's assumptions, in order", () => {
    const expected = table.behaviours.flatMap((e) => (e.assumption ? [e.assumption] : []));
    expect(readmeAssumptions(), `README.md "## Assumptions" must list:\n${renderAssumptions(expected)}\n`).to.deep.equal(expected);
  });
});
