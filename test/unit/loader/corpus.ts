/**
 * Malformed scenarios and the exact located messages the loader must give for them.
 * `file` defaults to `<id>.yaml`; every expected line is `line:column: message`.
 */
import { STEP_KIND_NAMES } from '../../../harness/steps/registry.js';

/** The step kinds as the loader lists them: the registry's, in its order. */
const KINDS = STEP_KIND_NAMES.join(', ');

export interface MalformedCase {
  id: string;
  file?: string;
  yaml: string;
  expected: string[];
}

const ok = (steps: string, head = '') =>
  `name: NAME\nsummary: s\nmachine: { image: testbed }\n${head}steps:\n${steps}`;

export const corpus: MalformedCase[] = [
  { id: 'yaml-bad-indent', yaml: 'name: yaml-bad-indent\nsummary: s\n  machine: x\n', expected: ["2:10: YAML: Nested mappings are not allowed in compact mappings"] },
  { id: 'yaml-flow-interpolation', yaml: ok('  - expect:\n      booted: { image: ${{ vars.x }} }\n', 'vars: { x: a }\n'), expected: ["7:25: YAML: Unexpected flow-map-start at node end (a value containing ${{ … }} inside { … } or [ … ] must be quoted: \"${{ matrix.x }}\")"] },
  { id: 'empty-file', yaml: '', expected: ["1:1: a scenario must be a mapping with keys name, summary, machine, steps; got an empty document"] },
  { id: 'top-level-list', yaml: '- a\n- b\n', expected: ["1:1: a scenario must be a mapping with keys name, summary, machine, steps; got something else"] },
  { id: 'missing-name', yaml: 'summary: s\nmachine: { image: testbed }\nsteps:\n  - reboot\n', expected: ["1:1: missing required key 'name'"] },
  { id: 'name-mismatch', yaml: ok('  - reboot\n').replace('NAME', 'other-name'), expected: ["1:7: name 'other-name' must equal the file's base name 'name-mismatch'"] },
  { id: 'reserved-name', file: 'validate.yaml', yaml: ok('  - reboot\n').replace('NAME', 'validate'), expected: ["1:7: 'validate' is a reserved command word (validate, doctor, images, gc, schema, merge, list, help, version, run); choose another name"] },
  { id: 'unknown-top-key', yaml: 'name: unknown-top-key\nsummary: s\nmachine: { image: testbed }\nstpes:\n  - reboot\n', expected: ["1:1: missing required key 'steps'", "4:1: unknown key 'stpes' (did you mean 'steps'?); expected one of: name, summary, questions, tags, vars, matrix, machine, machines, timeout, steps"] },
  { id: 'empty-steps', yaml: ok('  []\n').replace('steps:\n  []', 'steps: []'), expected: ["4:8: must not be empty"] },
  { id: 'unknown-bare-step', yaml: ok('  - rebot\n'), expected: [`5:5: unknown step 'rebot' (did you mean 'reboot'?); a step is a mapping with one of: ${KINDS}`] },
  { id: 'unknown-action-key', yaml: ok('  - runn: ls\n'), expected: [`5:5: a step needs one action key: ${KINDS} (did you mean 'run'?); found: runn`] },
  { id: 'two-actions', yaml: ok('  - run: ls\n    reboot: true\n'), expected: ["6:5: a step has exactly one action; found 'run' and 'reboot'"] },
  { id: 'unknown-rpm-ostree-op', yaml: ok('  - rpm-ostree: instal\n    packages: [strace]\n'), expected: ["5:17: unknown rpm-ostree operation 'instal' (did you mean 'install'?); expected one of: install, uninstall, update, kargs, rebase, rollback, cleanup, reset, override-remove, override-reset, status"] },
  { id: 'install-missing-packages', yaml: ok('  - rpm-ostree: install\n'), expected: ["5:5: missing required key 'packages'"] },
  { id: 'install-empty-packages', yaml: ok('  - rpm-ostree: install\n    packages: []\n'), expected: ["6:15: must not be empty"] },
  { id: 'install-packages-string', yaml: ok('  - rpm-ostree: install\n    packages: strace\n'), expected: ["6:15: expected a list, got the string \"strace\""] },
  { id: 'switch-missing-image', yaml: ok('  - bootc: switch\n'), expected: ["5:5: missing required key 'image'"] },
  { id: 'unknown-bootc-op', yaml: ok('  - bootc: swtich\n    image: x\n'), expected: ["5:12: unknown bootc operation 'swtich' (did you mean 'switch'?); expected one of: switch, upgrade, rollback, status"] },
  { id: 'misspelt-step-key', yaml: ok('  - rpm-ostree: install\n    packges: [strace]\n'), expected: ["5:5: missing required key 'packages'", "6:5: unknown key 'packges' (did you mean 'packages'?); expected one of: rpm-ostree, packages, reboot, name, timeout, expect-failure, record, on, when"] },
  { id: 'update-bad-driver', yaml: ok('  - update: { via: dnf, image: x }\n'), expected: ["5:20: invalid value 'dnf'; expected one of: rpm-ostree, bootc"] },
  { id: 'expect-empty', yaml: ok('  - expect: {}\n'), expected: ["5:13: must not be empty; expected some of: booted, staged, rollback, kargs, os-release, files, bootc, status-agree, system"] },
  { id: 'expect-misspelt', yaml: ok('  - expect:\n      boted: { image: x }\n'), expected: ["6:7: unknown key 'boted' (did you mean 'booted'?); expected one of: booted, staged, rollback, kargs, os-release, files, bootc, status-agree, system"] },
  { id: 'kargs-not-list', yaml: ok('  - expect:\n      kargs: { has: foo=1 }\n'), expected: ["6:21: expected a list, got the string \"foo=1\""] },
  { id: 'bad-duration', yaml: ok('  - reboot\n', 'timeout: 5 minutes\n'), expected: ["4:10: invalid value \"5 minutes\": expected a duration like \"90s\", \"5m\", \"1h\" or \"500ms\""] },
  { id: 'bad-memory', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, memory: 2GB }'), expected: ["3:36: invalid value \"2GB\": expected a size like \"2GiB\" or \"512MiB\""] },
  { id: 'zero-cpus', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, cpus: 0 }'), expected: ["3:34: must be at least 1, got 0"] },
  { id: 'unknown-image', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: fcos-stabel }'), expected: ["3:19: unknown image 'fcos-stabel' (did you mean 'fcos-stable'?); catalog: centos-bootc-stream10, centos-bootc-stream9, fcos-next, fcos-stable, fcos-testing, fedora-bootc-42, rhcos-4.x, rhel10-bootc, rhel9-bootc, testbed"] },
  { id: 'unknown-question', yaml: ok('  - reboot\n', 'questions: [Q9]\n'), expected: ["4:13: unknown question 'Q9'; known: Q1, Q2, Q3, Q4, Q5 (scenarios/questions.yaml)"] },
  { id: 'bad-question-id', yaml: ok('  - reboot\n', 'questions: [q1]\n'), expected: ["4:13: invalid value \"q1\": expected a question id like Q1"] },
  { id: 'matrix-all-excluded', yaml: ok('  - reboot\n', 'matrix:\n  a: [x]\n  exclude:\n    - { a: x }\n'), expected: ["5:3: the matrix is empty: every combination was excluded (or no axis has values)"] },
  { id: 'matrix-exclude-unknown-axis', yaml: ok('  - reboot\n', 'matrix:\n  a: [x, y]\n  exclude:\n    - { b: x }\n'), expected: ["7:9: exclude names unknown axis 'b'; axes: a"] },
  { id: 'matrix-include-partial', yaml: ok('  - reboot\n', 'matrix:\n  a: [x]\n  b: [y]\n  include:\n    - { a: z }\n'), expected: ["8:7: include must name every axis; missing: b"] },
  { id: 'undefined-matrix-axis', yaml: ok('  - update:\n      via: ${{ matrix.drvier }}\n      image: x\n', 'matrix:\n  driver: [bootc]\n'), expected: ["8:12: undefined matrix.drvier (did you mean matrix.driver?); defined: driver"] },
  { id: 'undefined-var', yaml: ok('  - run: echo ${{ vars.nope }}\n', 'vars:\n  yes: 1\n'), expected: ["7:10: undefined vars.nope; defined: yes"] },
  { id: 'bad-expression', yaml: ok('  - run: echo ${{ env.HOME }}\n'), expected: ["5:10: invalid expression '${{ env.HOME }}': expected ${{ matrix.NAME }} or ${{ vars.NAME }}"] },
  { id: 'interpolation-in-summary', yaml: 'name: interpolation-in-summary\nsummary: about ${{ matrix.a }}\nmatrix:\n  a: [x]\nmachine: { image: testbed }\nsteps:\n  - reboot\n', expected: ["2:10: ${{ matrix.a }} is not allowed in 'summary'; interpolation works in steps and machine(s) only"] },
  { id: 'interpolated-enum-invalid', yaml: ok('  - update:\n      via: ${{ matrix.d }}\n      image: x\n', 'matrix:\n  d: [bootc, dnf]\n'), expected: ["8:12: invalid value 'dnf'; expected one of: rpm-ostree, bootc (in matrix cell interpolated-enum-invalid[d=dnf])"] },
  { id: 'duplicate-step-names', yaml: ok('  - name: a\n    run: ls\n  - name: a\n    run: ls\n'), expected: ["7:11: duplicate step name 'a' (also step 1)"] },
  { id: 'duplicate-record-ids', yaml: ok('  - run: ls\n    record: r\n  - run: ls\n    record: r\n'), expected: ["8:13: duplicate finding id 'r' (also step 1)"] },
  { id: 'duplicate-yaml-keys', yaml: 'name: duplicate-yaml-keys\nsummary: s\nsummary: t\nmachine: { image: testbed }\nsteps:\n  - reboot\n', expected: ["3:1: YAML: Map keys must be unique"] },
  { id: 'expect-failure-on-expect', yaml: ok('  - expect: { system: running }\n    expect-failure: true\n'), expected: ["6:5: 'expect-failure' does not apply to expect steps"] },
  { id: 'machine-and-machines', yaml: ok('  - reboot\n', 'machines:\n  a: { image: testbed }\n'), expected: ["4:1: use either 'machine' (one machine) or 'machines' (several), not both"] },
  { id: 'on-without-machines', yaml: ok('  - run: ls\n    on: a\n'), expected: ["6:5: 'on' needs 'machines' (several named machines); this scenario has one machine"] },
  { id: 'cleanup-without-flags', yaml: ok('  - rpm-ostree: cleanup\n'), expected: ["5:5: rpm-ostree cleanup needs 'pending: true' (-p) and/or 'rollback: true' (-r)"] },
  { id: 'bad-regex', yaml: ok('  - bootc: upgrade\n    expect-failure: { stderr: "(unclosed" }\n'), expected: ["6:31: invalid regular expression \"(unclosed\": Invalid regular expression: /(unclosed/u: Unterminated group"] },
  { id: 'bad-tag', yaml: ok('  - reboot\n', 'tags: [Nightly Run]\n'), expected: ["4:8: invalid value \"Nightly Run\": expected a tag of lower-case letters, digits and dashes"] },
  { id: 'exit-code-range', yaml: ok('  - run: ls\n    exit-code: 300\n'), expected: ["6:16: must be at most 255, got 300"] },
  { id: 'unclosed-expression', yaml: ok('  - run: echo ${{ vars.x\n', 'vars: { x: 1 }\n'), expected: ["6:10: unclosed expression in \"echo ${{ vars.x\": expected '}}'"] },
  { id: 'missing-machine', yaml: 'name: missing-machine\nsummary: s\nsteps:\n  - reboot\n', expected: ["1:1: missing 'machine' (or 'machines'): which image should the scenario boot?"] },
  { id: 'several-errors', yaml: 'name: several-errors\nsummary: 5\nmachine: { image: nope, cpus: -1 }\nsteps:\n  - rebot\n  - run: ls\n    exit-code: x\n', expected: ["2:10: expected a string, got the number 5", "3:31: must be at least 1, got -1", `5:5: unknown step 'rebot' (did you mean 'reboot'?); a step is a mapping with one of: ${KINDS}`, "7:16: expected a whole number, got the string \"x\""] },
  { id: 'multi-machine-missing-on', yaml: 'name: multi-machine-missing-on\nsummary: s\nmachines:\n  a: { image: testbed }\n  b: { image: testbed }\nsteps:\n  - run: ls\n', expected: ["7:5: with several machines every step needs 'on' (one of: a, b)"] },
  { id: 'when-unknown-axis', yaml: ok('  - run: ls\n    when: { drvier: bootc }\n', 'matrix:\n  driver: [bootc]\n'), expected: ["8:13: 'when' names unknown matrix axis 'drvier' (did you mean 'driver'?); axes: driver"] },
  { id: 'when-unknown-value', yaml: ok('  - run: ls\n    when: { driver: [bootc, dnf] }\n', 'matrix:\n  driver: [bootc]\n'), expected: ["8:29: 'when' value \"dnf\" never occurs on axis 'driver'; values: \"bootc\""] },
  { id: 'record-step-bad-observe', yaml: ok('  - record: r\n    observe: [bootd]\n'), expected: ["6:15: invalid value 'bootd' (did you mean 'booted'?); expected one of: booted, staged, rollback, kargs, os-release, packages, bootc, rpm-ostree, status-agree"] },
  { id: 'reboot-flag-on-bootc', yaml: ok('  - bootc: upgrade\n    reboot: true\n'), expected: ["5:5: a step has exactly one action; found 'reboot' and 'bootc'"] },
  { id: 'option-like-package', yaml: ok('  - rpm-ostree: install\n    packages: [strace, --reboot]\n'), expected: ["6:24: package '--reboot' starts with '-': the tool would read it as an option"] },
  { id: 'option-like-image', yaml: ok('  - bootc: switch\n    image: --apply\n'), expected: ["6:12: image '--apply' starts with '-': the tool would read it as an option"] },
  { id: 'option-like-karg', yaml: ok('  - rpm-ostree: kargs\n    append: [-x]\n'), expected: ["6:14: kernel argument '-x' starts with '-': the tool would read it as an option"] },
  { id: 'option-like-update-image', yaml: ok('  - update: { via: bootc, image: -x }\n'), expected: ["5:34: image '-x' starts with '-': the tool would read it as an option"] },
  { id: 'multi-machine-bare-reboot', yaml: 'name: multi-machine-bare-reboot\nsummary: s\nmachines:\n  a: { image: testbed }\n  b: { image: testbed }\nsteps:\n  - reboot\n', expected: ["7:5: with several machines every step needs 'on' (one of: a, b); a bare 'reboot' cannot name one: write 'reboot: {}' with 'on:'"] },
  { id: 'nul-byte', yaml: ok('  - run: "echo a\\0b"\n'), expected: ["5:10: contains a NUL byte (\\0), which no guest command or path can carry"] },
  { id: 'copy-src-outside', yaml: ok('  - copy: { src: ../../etc/passwd, dest: /tmp/x }\n'), expected: ["5:18: copy source '../../etc/passwd' is outside the scenario's folder (it is relative to it)"] },
  { id: 'copy-dest-outside', yaml: ok('  - copy: { src: /etc/hostname, dest: ../../x-evil/y, direction: from-guest }\n'), expected: ["5:39: copy destination '../../x-evil/y' leaves the run's files/ folder (it is relative to it)"] },
  { id: 'wait-nothing', yaml: ok('  - wait: { exit-code: 0 }\n'), expected: ["5:11: a wait needs 'console' (a pattern) or 'command' (a guest command)"] },
  { id: 'expect-failure-on-copy', yaml: ok('  - copy: { src: x, dest: /tmp/x }\n    expect-failure: true\n'), expected: ["6:5: 'expect-failure' does not apply to copy steps"] },
  // Hostile and careless input: nesting, keys, foreign files (issue: bad input must give located errors).
  { id: 'yaml-deep-flow', yaml: ok('  - reboot\n', `vars:\n  a: ${'['.repeat(70)}${']'.repeat(70)}\n`), expected: ['5:68: YAML: nesting deeper than 64 levels'] },
  { id: 'yaml-deep-parser', yaml: ok('  - reboot\n', `vars:\n  a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`), expected: ['5:70: YAML: nesting deeper than 64 levels'] },
  { id: 'yaml-deep-block', yaml: ok('  - reboot\n', `vars:\n${Array.from({ length: 70 }, (_, i) => `${' '.repeat(2 * i + 2)}k:`).join('\n')} 1\n`), expected: ['68:129: YAML: nesting deeper than 64 levels'] },
  { id: 'yaml-deep-aliases', yaml: ok('  - reboot\n', `vars:\n  a: &a ${'['.repeat(40)}${']'.repeat(40)}\n  b: [${'['.repeat(37)}*a${']'.repeat(37)}]\n`), expected: ['1:1: YAML: nesting deeper than 64 levels (through aliases)'] },
  { id: 'yaml-complex-key', yaml: ok('  - reboot\n', '? [a, b]\n: 1\n'), expected: ['4:3: YAML: a mapping key must be a plain value (text or a number), not a list or mapping'] },
  { id: 'yaml-complex-key-map', yaml: ok('  - reboot\n', 'vars:\n  ? { x: 1 }\n  : 2\n'), expected: ['5:5: YAML: a mapping key must be a plain value (text or a number), not a list or mapping'] },
  { id: 'yaml-alias-key', yaml: ok('  - reboot\n', 'vars:\n  a: &k key\n  *k : 2\n'), expected: ['6:3: YAML: an alias (*name) cannot be a mapping key'] },
  { id: 'foreign-file', yaml: 'root:$y$j9T$secrethash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n', expected: ['1:1: this is not a file of the expected kind: none of its 2 top-level keys is one of name, summary, questions, tags, vars, matrix, machine, machines, timeout, steps (its content is not shown)'] },
  { id: 'unknown-key-long', yaml: ok('  - reboot\n', `${'x'.repeat(80)}: 1\n`), expected: [`4:1: unknown key '${'x'.repeat(37)}...'; expected one of: name, summary, questions, tags, vars, matrix, machine, machines, timeout, steps`] },
  // Durations and sizes out of range (checked at load, bounds in the message).
  { id: 'duration-600h', yaml: ok('  - reboot\n', 'timeout: 600h\n'), expected: ["4:10: duration \"600h\" is out of range: must be at least 100ms and at most 24h"] },
  { id: 'duration-1e300', yaml: ok('  - reboot\n', 'timeout: 1e300\n'), expected: ["4:10: duration 1e+300 (seconds) is out of range: must be at least 100ms and at most 24h"] },
  { id: 'duration-inf', yaml: ok('  - reboot\n', 'timeout: .inf\n'), expected: ["4:10: duration Infinity (seconds) is out of range: must be at least 100ms and at most 24h"] },
  { id: 'wait-huge', yaml: ok('  - wait: 9999999h\n'), expected: ["5:11: duration \"9999999h\" is out of range: must be at least 100ms and at most 24h"] },
  { id: 'wait-zero-seconds', yaml: ok('  - wait: 0s\n'), expected: ["5:11: duration \"0s\" is out of range: must be at least 100ms and at most 24h"] },
  { id: 'wait-zero-number', yaml: ok('  - wait: 0\n'), expected: ["5:11: duration 0 (seconds) is out of range: must be at least 100ms and at most 24h"] },
  { id: 'wait-tiny', yaml: ok('  - wait: 0.0001ms\n'), expected: ["5:11: duration \"0.0001ms\" is out of range: must be at least 100ms and at most 24h"] },
  { id: 'wait-interval-tiny', yaml: ok('  - wait: { command: "true", interval: 10ms }\n'), expected: ["5:40: duration \"10ms\" is out of range: must be at least 100ms and at most 24h"] },
  { id: 'step-timeout-zero', yaml: ok('  - run: ls\n    timeout: 0s\n'), expected: ["6:14: duration \"0s\" is out of range: must be at least 100ms and at most 24h"] },
  { id: 'duration-out-of-range-in-cell', yaml: ok('  - wait: ${{ matrix.w }}\n', 'matrix:\n  w: [1s, 0s]\n'), expected: ["7:11: duration \"0s\" is out of range: must be at least 100ms and at most 24h (in matrix cell duration-out-of-range-in-cell[w=0s])"] },
  { id: 'memory-zero', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, memory: 0GiB }'), expected: ["3:36: memory \"0GiB\" is out of range: must be at least 128MiB and at most 1TiB"] },
  { id: 'memory-one-k', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, memory: 1K }'), expected: ["3:36: memory \"1K\" is out of range: must be at least 128MiB and at most 1TiB"] },
  { id: 'memory-huge', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, memory: 9999999TiB }'), expected: ["3:36: memory \"9999999TiB\" is out of range: must be at least 128MiB and at most 1TiB"] },
  { id: 'memory-hundred-tib', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, memory: 100TiB }'), expected: ["3:36: memory \"100TiB\" is out of range: must be at least 128MiB and at most 1TiB"] },
  { id: 'memory-number-small', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, memory: 64 }'), expected: ["3:36: memory 64 (MiB) is out of range: must be at least 128MiB and at most 1TiB"] },
  { id: 'disk-one-k', yaml: ok('  - reboot\n').replace('{ image: testbed }', '{ image: testbed, disk: 1K }'), expected: ["3:34: disk \"1K\" is out of range: must be at least 1GiB and at most 16TiB"] },
  // Matrices: bounded expansion, unique run ids and results folders, no empty cells.
  { id: 'matrix-too-big', yaml: ok('  - reboot\n', `matrix:\n  a: [${Array.from({ length: 17 }, (_, i) => i).join(', ')}]\n  b: [${Array.from({ length: 16 }, (_, i) => i).join(', ')}]\n`), expected: ["4:1: the matrix expands to 272 runs (17 × 16); at most 256 runs per scenario"] },
  { id: 'matrix-aliased-axes', yaml: ok('  - reboot\n', `matrix:\n  a: &v [${Array.from({ length: 100 }, (_, i) => i).join(', ')}]\n  b: *v\n  c: *v\n  d: *v\n  e: *v\n  f: *v\n`), expected: ["4:1: the matrix expands to 1000000000000 runs (100 × 100 × 100 × 100 × 100 × 100); at most 256 runs per scenario"] },
  { id: 'matrix-number-and-string', yaml: ok('  - reboot\n', 'matrix:\n  a: [1, "1"]\n'), expected: ["5:10: value \"1\" in axis 'a' reads the same as 1 in a run id; keep one"] },
  { id: 'matrix-bool-and-string', yaml: ok('  - reboot\n', 'matrix:\n  a: [true, "true"]\n'), expected: ["5:13: value \"true\" in axis 'a' reads the same as true in a run id; keep one"] },
  { id: 'matrix-include-string-twin', yaml: ok('  - reboot\n', 'matrix:\n  a: [1]\n  include:\n    - { a: "1" }\n'), expected: ["7:7: include repeats a combination that is already in the matrix"] },
  { id: 'matrix-shared-folder', yaml: ok('  - reboot\n', 'matrix:\n  a: [x/y, x_y]\n'), expected: ["4:1: matrix cells [a=x/y] and [a=x_y] would share the results folder '--a-x_y' (characters other than letters, digits, '.', '_' and '-' become '_'); change one of the values"] },
  { id: 'matrix-comma-value', yaml: ok('  - reboot\n', 'matrix:\n  a: ["x,b=y", x]\n  b: [z, "y,b=z"]\n'), expected: ["4:1: two matrix cells have the same run id [a=x,b=y,b=z]; a value containing ',' or '=' reads as another axis"] },
  { id: 'matrix-retry-folder', yaml: ok('  - reboot\n', 'matrix:\n  a: [x.retry-1]\n'), expected: ["4:1: matrix cell [a=x.retry-1] would take the results folder of a retry ('--a-x.retry-1'); change the value"] },
  { id: 'when-leaves-cell-empty', yaml: ok('  - run: ls\n    when: { a: x }\n', 'matrix:\n  a: [x, y]\n'), expected: ["6:1: matrix cell when-leaves-cell-empty[a=y] runs no step: every step's 'when' leaves it out"] },
];
