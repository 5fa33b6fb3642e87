/**
 * A bootc container image turned into a bootable qcow2, with bootc-image-builder under rootful
 * podman (default) or `bcvk to-disk`. The disk is cached by the image digest plus a hash of the
 * builder configuration, so a new image push or a changed config builds a new disk and nothing else
 * does. See images/README.md ("Login user and keys on built disks") for how the user gets in.
 *
 * Every command line is built by a pure function (unit-tested without podman); the runtime part only
 * runs them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { HostNotCapableError, InfraError, InputError, InterruptedError } from '../../core/errors.js';
import { commitDisk, findEntry, imagesDir, recordInIndex } from '../cache.js';
import type { CatalogEntry } from '../catalog/schema.js';
import { sha256File } from '../download.js';
import { qemuImgInfo } from '../qemu-img.js';
import type { ResolvedImage, ResolveOptions } from '../provenance.js';
import { fromStamp, resolveUserPath } from './common.js';
import { osbuildSelinux, OSBUILD_SELINUX_REMEDY, type OsbuildSelinux } from './osbuild-selinux.js';

type OciSource = Extract<CatalogEntry['source'], { kind: 'oci' }>;

export const DEFAULT_BUILDER_IMAGE = 'quay.io/centos-bootc/bootc-image-builder:latest';
/** Bump when the way a disk is built changes (part of every build key). */
const OCI_BUILD_VERSION = 'bootpath-oci/1';

export interface BuildPlan {
  builder: 'bootc-image-builder' | 'bcvk';
  image: string;
  builderImage: string;
  rootfs: 'ext4' | 'xfs' | 'btrfs';
  diskSize?: string;
  /** Where config.toml is written (bootc-image-builder). */
  configPath: string;
  /** bootc-image-builder's /output; bcvk writes `<outputDir>/disk.qcow2`. */
  outputDir: string;
  /** A podman auth file (never its content) for private registries. */
  authFile?: string;
  /** Prefix with sudo: bootc-image-builder needs rootful podman (never for bcvk: see planFor). */
  sudo: boolean;
  /** Hand the output to this uid:gid (when run through sudo). */
  chown?: string;
}

export function planFor(entry: CatalogEntry, source: OciSource, dirs: { configPath: string; outputDir: string }, authFile: string | undefined, uid: number, gid: number): BuildPlan {
  const builder = source.builder ?? 'bootc-image-builder';
  // bootc-image-builder needs rootful podman, so the pull and the inspect go to root's store too.
  // bcvk runs as the invoking user and boots the image from that user's podman store (bcvk
  // docs/man/bcvk-to-disk.md: "Boots an ephemeral VM with the target container image"): pulling
  // it with sudo would fill root's store and record a digest bcvk never sees.
  const rootful = builder === 'bootc-image-builder' && uid !== 0;
  return {
    builder,
    image: source.image,
    builderImage: source['builder-image'] ?? DEFAULT_BUILDER_IMAGE,
    // The Fedora bootc images have no default root filesystem; xfs is what CentOS/RHEL use.
    rootfs: source.rootfs ?? 'xfs',
    diskSize: source['disk-size'],
    configPath: dirs.configPath,
    outputDir: dirs.outputDir,
    authFile,
    sudo: rootful,
    chown: rootful ? `${uid}:${gid}` : undefined,
  };
}

function prefix(plan: BuildPlan): string[] {
  return plan.sudo ? ['sudo', '--'] : [];
}

export function podmanPullArgv(plan: BuildPlan): string[] {
  return [...prefix(plan), 'podman', 'pull', ...(plan.authFile ? ['--authfile', plan.authFile] : []), plan.image];
}

export function podmanDigestArgv(plan: BuildPlan): string[] {
  return [...prefix(plan), 'podman', 'image', 'inspect', '--format', '{{.Digest}}', plan.image];
}

/** The bootc-image-builder command line (reference §5), producing `<outputDir>/qcow2/disk.qcow2`. */
export function bootcImageBuilderArgv(plan: BuildPlan): string[] {
  return [
    ...prefix(plan),
    'podman',
    'run',
    '--rm',
    '--privileged',
    '--pull=newer',
    '--security-opt',
    'label=type:unconfined_t',
    ...(plan.authFile ? ['--authfile', plan.authFile] : []),
    '-v',
    `${plan.configPath}:/config.toml:ro`,
    '-v',
    `${plan.outputDir}:/output`,
    '-v',
    '/var/lib/containers/storage:/var/lib/containers/storage',
    plan.builderImage,
    '--type',
    'qcow2',
    '--rootfs',
    plan.rootfs,
    ...(plan.chown ? ['--chown', plan.chown] : []),
    plan.image,
  ];
}

/** `bcvk to-disk` alternative: builds inside an ephemeral VM, no privileged container needed. */
export function bcvkArgv(plan: BuildPlan): string[] {
  return ['bcvk', 'to-disk', '--format=qcow2', `--filesystem=${plan.rootfs}`, ...(plan.diskSize ? [`--disk-size=${plan.diskSize}`] : []), plan.image, path.join(plan.outputDir, 'disk.qcow2')];
}

/** Where the built disk lands. */
export function builtDiskPath(plan: BuildPlan): string {
  return plan.builder === 'bcvk' ? path.join(plan.outputDir, 'disk.qcow2') : path.join(plan.outputDir, 'qcow2', 'disk.qcow2');
}

function tomlString(s: string): string {
  return JSON.stringify(s); // a TOML basic string is JSON-compatible for these characters
}

/**
 * config.toml for bootc-image-builder: the catalog's login user with bootpath's stable disk key
 * (a per-run key would make every run a cache miss), in wheel for sudo.
 */
export function builderConfigToml(user: string, publicKey: string, diskSize?: string): string {
  const lines = ['[[customizations.user]]', `name = ${tomlString(user)}`, `key = ${tomlString(publicKey.trim())}`, 'groups = ["wheel"]', ''];
  if (diskSize) lines.push('[[customizations.filesystem]]', 'mountpoint = "/"', `minsize = ${tomlString(diskSize.replace(/G$/, ' GiB'))}`, '');
  return lines.join('\n');
}

/** Everything that decides the built disk's bytes, hashed. */
export function buildKey(plan: BuildPlan, digest: string, configToml: string): string {
  const inputs = { v: OCI_BUILD_VERSION, builder: plan.builder, builderImage: plan.builderImage, image: plan.image, digest, rootfs: plan.rootfs, diskSize: plan.diskSize ?? null, configToml };
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
}

/** Redact the auth file path from a command line before it is logged. */
export function displayArgv(argv: string[]): string {
  return argv.map((a, i) => (argv[i - 1] === '--authfile' ? '<credentials>' : a)).join(' ');
}

export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** The install command for this distribution (from /etc/os-release). */
export function installCommand(pkg: string, osRelease: string | null = readOsRelease()): string {
  const id = /^(?:ID|ID_LIKE)=.*$/gm;
  const ids = (osRelease?.match(id) ?? []).join(' ');
  if (/debian|ubuntu/.test(ids)) return `apt-get install ${pkg}`;
  if (/fedora|rhel|centos/.test(ids)) return `dnf install ${pkg}`;
  return `apt-get install ${pkg} (Debian/Ubuntu) or dnf install ${pkg} (Fedora)`;
}

function readOsRelease(): string | null {
  try {
    return readFileSync('/etc/os-release', 'utf8');
  } catch {
    return null;
  }
}

export function requireBuilderTool(builder: BuildPlan['builder'], env: NodeJS.ProcessEnv = process.env, osRelease?: string | null, selinux: OsbuildSelinux = osbuildSelinux()): void {
  if (builder === 'bcvk') {
    if (!findOnPath('bcvk', env)) throw new HostNotCapableError('bcvk is needed to turn a bootc image into a disk (builder: bcvk) but was not found', 'cargo install --locked --git https://github.com/bootc-dev/bcvk bcvk (or use builder: bootc-image-builder)');
    return;
  }
  if (!findOnPath('podman', env)) {
    throw new HostNotCapableError('podman is needed to turn a bootc container image into a disk with bootc-image-builder but was not found', installCommand('podman', osRelease));
  }
  if (selinux.kind === 'missing') {
    throw new HostNotCapableError('SELinux is enforcing and the osbuild policy module (osbuild-selinux) is not installed: bootc-image-builder would fail with a permission error while labelling the disk', OSBUILD_SELINUX_REMEDY);
  }
}

/** The auth file named by the entry's credentials, checked to exist; never read here. */
export function authFileFor(entry: CatalogEntry, env: NodeJS.ProcessEnv, catalogFile?: string): string | undefined {
  const c = entry.credentials;
  if (!c) return undefined;
  let file: string | undefined;
  if (c.file) file = resolveUserPath(c.file, catalogFile);
  else if (c.env) {
    const v = env[c.env];
    if (!v) throw new InputError(`image '${entry.name}' needs registry credentials: set ${c.env} to a podman auth file (podman login --authfile FILE <registry>)${catalogFile ? ` — credentials.env in ${catalogFile}` : ''}`);
    file = resolveUserPath(v, undefined);
  }
  if (file && !existsSync(file)) throw new InputError(`image '${entry.name}': the registry auth file ${c.env ? `named by $${c.env}` : `in credentials.file${catalogFile ? ` (${catalogFile})` : ''}`} does not exist`);
  return file;
}

/** bootpath's stable disk key (ed25519, 0600) under the cache: baked into built disks. */
export async function ensureDiskKey(cacheDir: string): Promise<{ privateKey: string; publicKey: string }> {
  const dir = path.join(cacheDir, 'keys');
  const privateKey = path.join(dir, 'bootpath-disk-key');
  if (!existsSync(privateKey)) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${privateKey}.${process.pid}`;
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bootpath-disk-key', '-f', tmp], { stdio: 'pipe' });
    if (r.error) throw new HostNotCapableError('ssh-keygen is needed to create the bootpath disk key', installCommand('openssh-client'));
    if (r.status !== 0) throw new InfraError(`ssh-keygen failed: ${r.stderr.toString().trim()}`, 'image');
    await fs.chmod(tmp, 0o600);
    // Another process may have won the race: keep the first key, it may already be baked into disks.
    if (!existsSync(privateKey)) {
      await fs.rename(`${tmp}.pub`, `${privateKey}.pub`);
      await fs.rename(tmp, privateKey);
    } else {
      await fs.rm(tmp, { force: true });
      await fs.rm(`${tmp}.pub`, { force: true });
    }
  }
  return { privateKey, publicKey: (await fs.readFile(`${privateKey}.pub`, 'utf8')).trim() };
}

function runLogged(argv: string[], log: (line: string) => void, signal?: AbortSignal): Promise<{ code: number | null; stdout: string; tail: string[] }> {
  log(`$ ${displayArgv(argv)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    const tail: string[] = [];
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        log(line);
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onLine(d);
    });
    child.stderr.on('data', onLine);
    child.on('error', (err) => reject(signal?.aborted ? new InterruptedError('abort') : err));
    child.on('close', (code) => resolve({ code, stdout, tail }));
  });
}

export async function resolveOci(entry: CatalogEntry, source: OciSource, opts: ResolveOptions): Promise<ResolvedImage> {
  const log = opts.log ?? (() => {});
  const builder = source.builder ?? 'bootc-image-builder';
  requireBuilderTool(builder);
  const authFile = authFileFor(entry, process.env, opts.catalogFile);
  const key = await ensureDiskKey(opts.cacheDir);
  const config = builderConfigToml(entry.user, key.publicKey, source['disk-size']);
  const work = path.join(imagesDir(opts.cacheDir), 'build', `${entry.name}-${process.pid}`);
  const plan = planFor(entry, source, { configPath: path.join(work, 'config.toml'), outputDir: path.join(work, 'output') }, authFile, process.getuid?.() ?? 0, process.getgid?.() ?? 0);

  // The digest decides the cache key; bcvk reads the same podman storage.
  const pull = await runLogged(podmanPullArgv(plan), log, opts.signal);
  if (pull.code !== 0) throw new InfraError(`podman pull ${plan.image} failed: ${pull.tail.slice(-3).join(' / ')}${entry.credentials ? '' : ' (a private registry needs credentials: in the catalog entry)'}`, 'image');
  const inspect = await runLogged(podmanDigestArgv(plan), () => {}, opts.signal);
  const digest = inspect.stdout.trim();
  if (inspect.code !== 0 || !/^sha256:[0-9a-f]{64}$/.test(digest)) throw new InfraError(`cannot read the digest of ${plan.image} (podman image inspect said '${digest || inspect.tail.join(' ')}')`, 'image');
  const bkey = buildKey(plan, digest, config);
  if (!opts.force) {
    const hit = await findEntry(opts.cacheDir, (s) => s.buildKey === bkey, { verify: opts.verifyCache, signal: opts.signal });
    if (hit) {
      await recordInIndex(opts.cacheDir, entry.name, hit);
      log(`${entry.name}: cache hit ${hit.file} (${digest})`);
      return fromStamp(entry, hit, opts, true);
    }
  }

  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(plan.outputDir, { recursive: true });
  await fs.writeFile(plan.configPath, config, { mode: 0o644 });
  try {
    const argv = builder === 'bcvk' ? bcvkArgv(plan) : bootcImageBuilderArgv(plan);
    const run = await runLogged(argv, log, opts.signal);
    if (run.code !== 0) throw new InfraError(`building a disk from ${plan.image} with ${builder} failed (exit ${String(run.code)}):\n${run.tail.join('\n')}`, 'image');
    const out = builtDiskPath(plan);
    const info = await qemuImgInfo(out);
    if (info.format !== 'qcow2') throw new InfraError(`${builder} produced ${out} but it is not a qcow2 (qemu-img says '${info.format}')`, 'image');
    const sha = await sha256File(out, opts.signal);
    const stamp = await commitDisk(opts.cacheDir, out, sha, { format: 'qcow2', image: entry.name, source: 'oci', url: plan.image, digest, buildKey: bkey, signature: 'not-configured' });
    return fromStamp(entry, stamp, opts, false);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
