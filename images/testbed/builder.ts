/**
 * Builds the testbed: bootpath's offline default image. A bootable x86_64 qcow2 built from Debian 12
 * packages whose root is a real OSTree deployment, with guest-side `rpm-ostree` and `bootc`
 * stand-ins (see README.md next to this file).
 *
 * The build is three shell stages under build/ (rootfs -> ostree commits + deployment -> disk). The
 * result is content-addressed by a key over every builder input, cached in
 * `<cacheDir>/testbed/<key>/`, built in a temp dir next to it and renamed into place only on success.
 * A lock file serialises concurrent builders so that a second process waits instead of building
 * twice. The stage-10 rootfs tarball (the slow mmdebstrap part) is cached by its own, smaller key, so
 * changing a guest-side tool does not re-run mmdebstrap.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../../core/atomic.js';
import { BootpathError, HostNotCapableError, InfraError, InterruptedError, errorMessage } from '../../core/errors.js';

export interface TestbedImage {
  /** Container-image-like reference the guest tools accept, e.g. localhost/bootpath/testbed:v1. */
  ref: string;
  tag: 'v1' | 'v2' | 'next';
  version: string;
  /** sha256 over the inputs key and the tag: stable for a given builder input. */
  digest: string;
  osRelease: Record<string, string>;
  /** kargs from the image's /usr/lib/bootc/kargs.d. */
  kargsD: string[];
  /** Notable files the image adds or changes (its overlay). */
  files: string[];
  /**
   * Which real images it is shaped like: `coreos` (FCOS/RHCOS: Ignition in the initrd, ssh-key-dir,
   * the sudo group file) or `bootc` (centos-bootc/rhel-bootc: none of those).
   */
  shape: ImageShape;
}

export type ImageShape = 'coreos' | 'bootc';

export interface TestbedManifest {
  schema: 1;
  key: string;
  builtAt: string;
  buildSeconds: number;
  /** File name in the cache entry directory. */
  disk: string;
  format: 'qcow2';
  firmware: 'bios';
  provisioning: 'ignition';
  user: 'core';
  stateroot: string;
  /** Ref of the image deployed at build time (v1). */
  bootedImage: string;
  images: TestbedImage[];
  /** Layerable package names in the pool. */
  packages: string[];
  sizeBytes: number;
}

export interface TestbedArtifact {
  diskPath: string;
  manifest: TestbedManifest;
  cacheHit: boolean;
}

export interface BuildTestbedOptions {
  cacheDir: string;
  force?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** Bump when builder.ts changes in a way that changes the output. */
const BUILDER_VERSION = 'testbed-builder/1';
const SRC = path.dirname(fileURLToPath(import.meta.url));
/** The builder inputs: everything here changes the key. README.md and builder.ts itself do not. */
const INPUT_DIRS = ['build', 'guest', 'images', 'inputs'];
/** The stage-10 (rootfs) inputs, a subset: its tarball is cached under this smaller key. */
const ROOTFS_INPUTS = ['build/10-rootfs.sh', 'build/lib.sh', 'build/hooks', 'inputs'];
export const TESTBED_STATEROOT = 'default';
/**
 * Kernel cmdline of the initial deployment. loglevel=4 limits console noise; panics still print.
 * `ignition.platform.id=qemu` and the literal `$ignition_firstboot` are what FCOS's boot entries
 * carry: GRUB expands the variable to `ignition.firstboot` while /boot/ignition.firstboot exists
 * (first boot only), which is what starts Ignition in the initrd.
 */
export const TESTBED_KARGS = 'root=LABEL=root rw console=ttyS0,115200 loglevel=4 ignition.platform.id=qemu $ignition_firstboot';
const BOOT_MB = 256;
const ROOT_MB = 2048;
const DISK_NAME = 'testbed.qcow2';
const LOG_TAIL_LINES = 30;

/** Host tools the build needs, and the Debian package that provides each. */
const HOST_TOOLS: Array<{ tool: string; pkg: string }> = [
  { tool: 'mmdebstrap', pkg: 'mmdebstrap' },
  { tool: 'ostree', pkg: 'ostree' },
  { tool: 'grub-mkimage', pkg: 'grub-common' },
  { tool: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { tool: 'chattr', pkg: 'e2fsprogs' },
  { tool: 'sfdisk', pkg: 'fdisk' },
  { tool: 'qemu-img', pkg: 'qemu-utils' },
  { tool: 'tar', pkg: 'tar' },
  { tool: 'python3', pkg: 'python3' },
];
const HOST_FILES: Array<{ file: string; pkg: string }> = [{ file: '/usr/lib/grub/i386-pc/boot.img', pkg: 'grub-pc-bin' }];

interface ImageDef {
  tag: TestbedImage['tag'];
  ref: string;
  ostreeRef: string;
  overlay: string;
  parent: string | null;
  version: string;
  created: string;
  shape: ImageShape;
}

async function listFiles(root: string, rel: string): Promise<string[]> {
  const abs = path.join(root, rel);
  const st = await fs.lstat(abs);
  if (!st.isDirectory()) return [rel];
  const out: string[] = [];
  for (const name of (await fs.readdir(abs)).sort()) out.push(...(await listFiles(root, path.join(rel, name))));
  return out;
}

/** sha256 over paths, exec bits, symlink targets and contents of the given inputs. */
async function hashInputs(rels: string[], salt: string): Promise<string> {
  const h = createHash('sha256').update(salt).update('\0');
  const files = (await Promise.all(rels.map((r) => listFiles(SRC, r)))).flat().sort();
  for (const rel of files) {
    const abs = path.join(SRC, rel);
    const st = await fs.lstat(abs);
    h.update(rel).update('\0');
    if (st.isSymbolicLink()) h.update('link:').update(await fs.readlink(abs));
    else h.update(st.mode & 0o111 ? 'x:' : 'f:').update(await fs.readFile(abs));
    h.update('\0');
  }
  return h.digest('hex');
}

export async function testbedInputsKey(): Promise<string> {
  return (await hashInputs(INPUT_DIRS, BUILDER_VERSION)).slice(0, 32);
}

async function rootfsKey(): Promise<string> {
  return (await hashInputs(ROOTFS_INPUTS, BUILDER_VERSION)).slice(0, 32);
}

export function imageDigest(key: string, tag: string): string {
  return 'sha256:' + createHash('sha256').update(`bootpath-testbed:${key}:${tag}`).digest('hex');
}

function checkHost(): void {
  if (process.getuid?.() !== 0) {
    throw new HostNotCapableError(
      'building the testbed image needs root (mmdebstrap --mode=root, ostree admin deploy into a directory)',
      'run bootpath as root, e.g. `sudo npm run scenario -- images build testbed`',
    );
  }
  const missing = new Set<string>();
  for (const { tool, pkg } of HOST_TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) missing.add(pkg);
  }
  for (const { file, pkg } of HOST_FILES) if (!existsSync(file)) missing.add(pkg);
  if (missing.size > 0) {
    const pkgs = [...missing].sort().join(' ');
    throw new HostNotCapableError(
      `building the testbed image needs host packages that are not installed: ${pkgs}`,
      `apt-get install -y --no-install-recommends ${pkgs}`,
    );
  }
}

function aptMirrorFile(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) if (existsSync(f)) return f;
  throw new HostNotCapableError(
    'building the testbed image needs the host apt sources (neither /etc/apt/sources.list.d/debian.sources nor /etc/apt/sources.list exists)',
    'configure a Debian 12 mirror in /etc/apt/sources.list.d/debian.sources',
  );
}

async function readImageDefs(): Promise<ImageDef[]> {
  const raw = JSON.parse(await fs.readFile(path.join(SRC, 'images/images.json'), 'utf8')) as { images: ImageDef[] };
  return raw.images;
}

function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    let v = m[2];
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]] = v;
  }
  return out;
}

/** kargs = ["a", "b"] lines of the kargs.d TOML files (the only key the testbed images use). */
function parseKargsToml(text: string): string[] {
  const m = /^\s*kargs\s*=\s*\[([^\]]*)\]/m.exec(text);
  if (!m || m[1] === undefined) return [];
  return [...m[1].matchAll(/"([^"]*)"/g)].map((x) => x[1] ?? '');
}

async function describeImages(defs: ImageDef[], key: string): Promise<TestbedImage[]> {
  const byTag = new Map(defs.map((d) => [d.tag, d]));
  const out: TestbedImage[] = [];
  for (const def of defs) {
    // os-release and kargs.d are inherited from the parent chain unless the overlay replaces them
    let osRelease: Record<string, string> = {};
    let kargsD: string[] = [];
    const chain: ImageDef[] = [];
    for (let d: ImageDef | undefined = def; d; d = d.parent ? byTag.get(d.parent as ImageDef['tag']) : undefined) chain.unshift(d);
    for (const d of chain) {
      const dir = path.join(SRC, 'images', d.overlay);
      const osr = path.join(dir, 'usr/lib/os-release');
      if (existsSync(osr)) osRelease = parseOsRelease(await fs.readFile(osr, 'utf8'));
      const kd = path.join(dir, 'usr/lib/bootc/kargs.d');
      if (existsSync(kd)) {
        kargsD = [];
        for (const f of (await fs.readdir(kd)).sort()) if (f.endsWith('.toml')) kargsD.push(...parseKargsToml(await fs.readFile(path.join(kd, f), 'utf8')));
      }
    }
    const files = (await listFiles(path.join(SRC, 'images'), def.overlay)).map((f) => '/' + path.relative(def.overlay, f));
    out.push({ ref: def.ref, tag: def.tag, version: def.version, digest: imageDigest(key, def.tag), osRelease, kargsD, files, shape: def.shape });
  }
  return out;
}

async function readPoolPackages(): Promise<string[]> {
  const text = await fs.readFile(path.join(SRC, 'inputs/pool-packages.txt'), 'utf8');
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
}

/** Returns the cached artifact if the entry is complete (manifest present, disk size matches). */
async function readCacheEntry(entryDir: string): Promise<TestbedArtifact | undefined> {
  try {
    const manifest = JSON.parse(await fs.readFile(path.join(entryDir, 'manifest.json'), 'utf8')) as TestbedManifest;
    const diskPath = path.join(entryDir, manifest.disk);
    const st = await fs.stat(diskPath);
    if (manifest.schema !== 1 || st.size !== manifest.sizeBytes) return undefined;
    return { diskPath, manifest, cacheHit: true };
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * O_EXCL lock file holding the owner's pid. A lock whose owner is gone is stale and taken over; a live
 * owner is waited for (its build will usually produce the entry this caller wants).
 */
async function acquireLock(lockFile: string, log: (l: string) => void, signal?: AbortSignal): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError('abort');
    try {
      const fh = await fs.open(lockFile, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await fs.rm(lockFile, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await fs.readFile(lockFile, 'utf8').catch(() => ''), 10);
    if (Number.isFinite(owner) && owner > 0 && !pidAlive(owner)) {
      log(`testbed: removing stale build lock of pid ${owner}`);
      await fs.rm(lockFile, { force: true });
      continue;
    }
    if (!announced) {
      log(`testbed: another build (pid ${Number.isFinite(owner) ? owner : '?'}) holds ${lockFile}; waiting for it`);
      announced = true;
    }
    await sleep(1000);
  }
}

class StageFailed extends InfraError {
  constructor(stage: string, detail: string, tail: string[], logFile: string) {
    super(
      `testbed build failed in stage ${stage}: ${detail}\n` +
        `--- last ${tail.length} lines of the build log ---\n${tail.join('\n')}\n--- full log: ${logFile}`,
      'image',
    );
  }
}

/** Runs one build stage with its output appended to the log; keeps the tail for error messages. */
async function runStage(
  stage: string,
  env: NodeJS.ProcessEnv,
  logFh: fs.FileHandle,
  tail: string[],
  logFile: string,
  signal?: AbortSignal,
): Promise<void> {
  const script = path.join(SRC, 'build', `${stage}.sh`);
  await logFh.write(`\n===== stage ${stage} (${new Date().toISOString()}) =====\n`);
  const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const onAbort = () => {
    // the whole process group: mmdebstrap, ostree, qemu-img…
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let pending = '';
  const writes: Promise<unknown>[] = [];
  const onData = (chunk: Buffer) => {
    writes.push(logFh.write(chunk));
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) {
      tail.push(l);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const result = await new Promise<{ code: number | null; sig: NodeJS.Signals | null; err?: Error }>((resolve) => {
    child.on('error', (err) => resolve({ code: null, sig: null, err }));
    child.on('close', (code, sig) => resolve({ code, sig }));
  });
  signal?.removeEventListener('abort', onAbort);
  await Promise.all(writes);
  if (pending) {
    tail.push(pending);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  }
  if (signal?.aborted) throw new InterruptedError('abort');
  if (result.err) throw new StageFailed(stage, `could not start bash: ${result.err.message}`, tail, logFile);
  if (result.code !== 0) {
    throw new StageFailed(stage, result.sig ? `killed by ${result.sig}` : `exit status ${result.code}`, tail, logFile);
  }
}

/** Removes a build dir; ostree marks deployment dirs immutable, so clear that first. */
async function removeBuildDir(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  spawnSync('bash', ['-c', 'source "$1"; rm_sysroot "$2/work/sysroot"', 'rm', path.join(SRC, 'build/lib.sh'), dir], { stdio: 'ignore' });
  await fs.rm(dir, { recursive: true, force: true });
}

export async function buildTestbed(opts: BuildTestbedOptions): Promise<TestbedArtifact> {
  const log = opts.log ?? (() => {});
  const key = await testbedInputsKey();
  const root = path.join(opts.cacheDir, 'testbed');
  const entryDir = path.join(root, key);
  if (!opts.force) {
    const hit = await readCacheEntry(entryDir);
    if (hit) {
      log(`testbed: cache hit ${entryDir}`);
      return hit;
    }
  }
  checkHost();
  const mirror = aptMirrorFile();
  await fs.mkdir(root, { recursive: true });
  const release = await acquireLock(path.join(root, '.lock'), log, opts.signal);
  try {
    if (!opts.force) {
      // a concurrent builder may have produced it while this one waited for the lock
      const hit = await readCacheEntry(entryDir);
      if (hit) {
        log(`testbed: cache hit ${entryDir} (built by another process)`);
        return hit;
      }
    }
    return await buildLocked({ ...opts, log }, key, root, entryDir, mirror);
  } finally {
    await release();
  }
}

async function buildLocked(
  opts: BuildTestbedOptions & { log: (line: string) => void },
  key: string,
  root: string,
  entryDir: string,
  mirror: string,
): Promise<TestbedArtifact> {
  const { log, signal } = opts;
  const t0 = Date.now();
  const buildDir = path.join(root, `.build-${key}-${process.pid}`);
  await removeBuildDir(buildDir);
  const work = path.join(buildDir, 'work');
  await fs.mkdir(work, { recursive: true });
  const logFile = path.join(buildDir, 'build.log');
  const failedLog = path.join(root, `failed-${key}.log`);
  const logFh = await fs.open(logFile, 'a');
  const tail: string[] = [];
  let ok = false;
  try {
    const defs = await readImageDefs();
    const images = await describeImages(defs, key);
    const epochOf = (iso: string) => Math.floor(Date.parse(iso) / 1000);
    const tsv = defs
      .map((d, i) =>
        [d.tag, d.ref, d.ostreeRef, d.overlay, d.parent ?? '-', d.version, String(epochOf(d.created)), images[i]?.digest ?? '', d.shape].join('\t'),
      )
      .join('\n');
    await fs.writeFile(path.join(work, 'images.tsv'), tsv + '\n');
    const registry = {
      schema: 1,
      images: defs.map((d, i) => ({ ref: d.ref, tag: d.tag, ostreeRef: d.ostreeRef, digest: images[i]?.digest, version: d.version, created: d.created })),
    };
    await fs.writeFile(path.join(work, 'registry.json'), JSON.stringify(registry, null, 2) + '\n');

    const rkey = await rootfsKey();
    const rootfsTar = path.join(root, `rootfs-${rkey}.tar`);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      HOME: process.env.HOME ?? '/root',
      TMPDIR: work,
      TESTBED_SRC: SRC,
      APT_CACHE: path.join(root, 'apt-archives'),
      MIRROR: mirror,
      ROOTFS_TAR: rootfsTar,
      WORK: work,
      STATEROOT: TESTBED_STATEROOT,
      KARGS: TESTBED_KARGS,
      IMAGES_TSV: path.join(work, 'images.tsv'),
      REGISTRY_JSON: path.join(work, 'registry.json'),
      BOOT_MB: String(BOOT_MB),
      ROOT_MB: String(ROOT_MB),
      DISK_QCOW2: path.join(buildDir, DISK_NAME),
    };
    const stage = async (name: string, skip?: string) => {
      if (skip) {
        log(`testbed: stage ${name} skipped (${skip})`);
        return;
      }
      const s = Date.now();
      log(`testbed: stage ${name} begin`);
      await runStage(name, env, logFh, tail, failedLog, signal);
      log(`testbed: stage ${name} done in ${((Date.now() - s) / 1000).toFixed(1)} s`);
    };
    await stage('10-rootfs', existsSync(rootfsTar) && !opts.force ? `cached rootfs ${path.basename(rootfsTar)}` : undefined);
    // keep only the current rootfs tarball (each is several hundred MB)
    for (const f of await fs.readdir(root)) {
      if (/^rootfs-[0-9a-f]+\.tar$/.test(f) && f !== path.basename(rootfsTar)) await fs.rm(path.join(root, f), { force: true });
    }
    await stage('20-ostree');
    await stage('30-disk');

    const diskPath = path.join(buildDir, DISK_NAME);
    const sizeBytes = (await fs.stat(diskPath)).size;
    const manifest: TestbedManifest = {
      schema: 1,
      key,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - t0) / 100) / 10,
      disk: DISK_NAME,
      format: 'qcow2',
      firmware: 'bios',
      provisioning: 'ignition',
      user: 'core',
      stateroot: TESTBED_STATEROOT,
      bootedImage: defs[0]?.ref ?? '',
      images,
      packages: await readPoolPackages(),
      sizeBytes,
    };
    await logFh.close();
    // drop the scratch work dir (sysroot has immutable deployment dirs) before publishing
    spawnSync('bash', ['-c', 'source "$1"; rm_sysroot "$2/sysroot"; rm -rf "$2"', 'rm', path.join(SRC, 'build/lib.sh'), work], { stdio: 'ignore' });
    await writeJsonAtomic(path.join(buildDir, 'manifest.json'), manifest);
    await fs.rm(entryDir, { recursive: true, force: true });
    await fs.rename(buildDir, entryDir);
    await fs.rm(failedLog, { force: true });
    ok = true;
    log(`testbed: built ${path.join(entryDir, DISK_NAME)} (${(sizeBytes / 1e6).toFixed(0)} MB) in ${manifest.buildSeconds} s`);
    return { diskPath: path.join(entryDir, DISK_NAME), manifest, cacheHit: false };
  } catch (err) {
    if (err instanceof BootpathError) throw err;
    throw new InfraError(`testbed build failed: ${errorMessage(err)}`, 'image');
  } finally {
    if (!ok) {
      await logFh.close().catch(() => {});
      // keep the log for the user, never a half-written cache entry
      await fs.copyFile(logFile, failedLog).catch(() => {});
      await removeBuildDir(buildDir);
    }
  }
}
