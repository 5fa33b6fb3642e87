/**
 * The facts script runs for real under this machine's sh, with an rpm-ostree on PATH that answers
 * like the real one; the rest (os-release, uname, missing tools) is this host's own.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { loadGoTypes, type GoTypes } from '../../harness/mcd/daemon-view.js';
import { factsArgv, factsFrom, FactsError, parseFactLines, versionAtLeast } from '../../harness/mcd/facts.js';

const run = promisify(execFile);
const STATUS = {
  deployments: [
    { booted: true, 'container-image-reference': 'ostree-unverified-registry:localhost/bootpath/testbed:v1', checksum: 'c1', 'requested-packages': ['strace'], 'requested-base-removals': [] },
  ],
};

describe('mcd facts', () => {
  let bin: string;
  let goTypes: GoTypes;
  before(async () => {
    goTypes = await loadGoTypes();
    bin = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-facts-'));
    const rpmOstree = `#!/bin/sh
case "$1 $2" in
  "status --json") cat <<'EOF'
${JSON.stringify(STATUS)}
EOF
  ;;
  "--version ") printf "rpm-ostree:\\n Version: '2026.2'\\n Features:\\n  - rust\\n  - container\\n" ;;
  "kargs ") echo "root=UUID=x rw quiet" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`;
    await fs.writeFile(path.join(bin, 'rpm-ostree'), rpmOstree, { mode: 0o755 });
    await fs.writeFile(path.join(bin, 'bootc'), '#!/bin/sh\necho \'{"status":{"booted":{"image":null}}}\'\n', { mode: 0o755 });
  });
  after(async () => fs.rm(bin, { recursive: true, force: true }));

  const gather = async (driver: 'rpm-ostree' | 'bootc') => {
    const needs = { driver, scope: 'os-change' as const, image: 'localhost/bootpath/testbed:v2', extensionsImage: '' };
    const [cmd, ...args] = factsArgv(needs);
    // The stand-in tools first, then whatever this host has (no mokutil: Secure Boot fails open).
    const { stdout } = await run(cmd!, args, { env: { PATH: `${bin}:/usr/bin:/bin` } });
    return { reads: parseFactLines(stdout), needs };
  };

  it('reads every fact in one call, output intact (base64), and derives HostFacts like the daemon', async () => {
    const { reads, needs } = await gather('rpm-ostree');
    expect(reads.get('status')?.exit).to.equal(0);
    expect(JSON.parse(reads.get('status')?.out ?? '')).to.deep.equal(STATUS);
    const f = factsFrom(reads, needs, goTypes);
    expect(f.bootedImage).to.equal('localhost/bootpath/testbed:v1');
    expect(f.booted.requestedPackages).to.deep.equal(['strace']);
    expect(f.rpmOstreeContainerFeature).to.equal(true);
    expect(f.runningKargs).to.equal('root=UUID=x rw quiet');
    // This host is Debian: not EL, not FCOS (osrelease.IsEL / IsFCOS).
    expect(f.el).to.equal(false);
    expect(f.fcos).to.equal(false);
    // No mokutil: isSecureBootEnabled fails open.
    expect(f.secureBoot).to.equal(true);
    expect(f.localImage).to.equal(null);
    expect(f.skopeoNewEnough).to.equal(false);
    expect(f.arch).to.match(/^(amd64|arm64|ppc64le|s390x|\w+)$/u);
  });

  it('the identity scope reads only what the daemon reads when it starts', async () => {
    const [cmd, ...args] = factsArgv({ driver: 'rpm-ostree', scope: 'identity', image: '', extensionsImage: '' });
    const { stdout } = await run(cmd!, args, { env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect([...parseFactLines(stdout).keys()]).to.deep.equal(['status', 'os-release', 'arch']);
  });

  it('driver bootc: a null booted image is the daemon panicking in GetBootedImageInfo', async () => {
    const { reads, needs } = await gather('bootc');
    expect(() => factsFrom(reads, needs, goTypes)).to.throw(FactsError, /panics reading the booted image/u);
  });

  it('no rpm-ostree status is an error the daemon cannot start with', () => {
    expect(() => factsFrom(parseFactLines('status 127 \n'), { driver: 'rpm-ostree', scope: 'identity', image: '', extensionsImage: '' }, goTypes)).to.throw(FactsError, /exit 127/u);
  });

  it('versionAtLeast is semver.Compare >= 0', () => {
    expect(versionAtLeast('4.4.1', '4.4.1')).to.equal(true);
    expect(versionAtLeast('4.4.1-rc1', '4.4.1')).to.equal(false);
    expect(versionAtLeast('v5.0.0', '4.4.1')).to.equal(true);
    expect(versionAtLeast('1.22.1', '1.22.2')).to.equal(false);
    expect(versionAtLeast('garbage', '1.0.0')).to.equal(null);
  });
});
