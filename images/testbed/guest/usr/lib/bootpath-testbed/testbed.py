"""Shared core of the bootpath testbed's guest-side `rpm-ostree` and `bootc` stand-ins.

Both tools work on real libostree state (python3-gi): the sysroot's deployments, their .origin
keyfiles and BLS options, commits in /sysroot/ostree/repo. New deployments are *staged* like the
real tools do (ostree-finalize-staged.service writes them out at shutdown).

"Container images" are OSTree commits that the image build committed under refs listed in
/usr/share/bootpath-testbed/images.json (the registry): an image reference such as
`localhost/bootpath/testbed:v2` resolves to such a ref; its commit metadata carries the version and
the manifest digest, like a commit imported by ostree-container.

Results produced with these stand-ins are testbed results, never evidence about real bootc or
rpm-ostree behaviour.
"""
import json
import os
import subprocess
import sys
import tempfile
import datetime

import gi

import logic
import statuscache
from logic import ToolError, glib_json, yaml_dump, yaml_scalar  # noqa: F401  (re-exported for the tools)

gi.require_version("OSTree", "1.0")
from gi.repository import Gio, GLib, OSTree  # noqa: E402

REGISTRY_FILE = "/usr/share/bootpath-testbed/images.json"
# Tag overrides for simulating a registry whose tag moved (shared /var, survives deployments):
# {"localhost/bootpath/testbed:v1": "localhost/bootpath/testbed:v2"} makes v1 resolve to v2's commit.
REGISTRY_OVERRIDES = "/var/lib/bootpath-testbed/registry-overrides.json"
POOL_DIR = "/usr/share/bootpath-testbed/pool"
# The unsigned reference spellings the stand-ins accept, and the transport each names
# (ostree-ext's OstreeImageReference Display: `ostree-unverified-registry:NAME` for registry,
# `ostree-unverified-image:TRANSPORT:NAME` otherwise). The testbed has no podman storage: a
# containers-storage name resolves through the same registry file as a registry name does.
TRANSPORT_PREFIXES = (("ostree-unverified-registry:", "registry"), ("ostree-unverified-image:registry:", "registry"),
                      ("ostree-unverified-image:docker://", "registry"),
                      ("ostree-unverified-image:containers-storage:", "containers-storage"))
ORIGIN_PREFIXES = tuple(p for p, _ in TRANSPORT_PREFIXES)


def run_main(fn):
    try:
        rc = fn(sys.argv[1:])
        sys.stdout.flush()
        statuscache.record(rc or 0)
        sys.exit(rc or 0)
    except ToolError as e:
        sys.stdout.flush()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.code)
    except GLib.Error as e:
        sys.stdout.flush()
        print(f"error: {e.message}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(1)


def require_root():
    if os.geteuid() != 0:
        raise ToolError("This command requires root privileges")


# --- registry ------------------------------------------------------------------------------------

def load_registry():
    with open(REGISTRY_FILE) as f:
        reg = json.load(f)
    overrides = {}
    try:
        with open(REGISTRY_OVERRIDES) as f:
            overrides = json.load(f)
    except FileNotFoundError:
        pass
    return reg, overrides


def split_imgref(imgref):
    """`ostree-unverified-registry:IMG` (and the other spellings) -> (transport, `IMG`)."""
    for p, transport in TRANSPORT_PREFIXES:
        if imgref.startswith(p):
            return transport, imgref[len(p):]
    raise ToolError(f"unsupported image reference {imgref!r}: the testbed only serves unsigned images "
                    f"(ostree-unverified-registry:<image>, ostree-unverified-image:containers-storage:<image>)")


def image_name_from_imgref(imgref):
    return split_imgref(imgref)[1]


def imgref_for(transport, name):
    """The origin's container-image-reference for a bootc target (bootc spec.rs ImageReference -> OstreeImageReference)."""
    return f"ostree-unverified-registry:{name}" if transport == "registry" else f"ostree-unverified-image:{transport}:{name}"


def resolve_image(name):
    """Registry lookup: image name -> entry dict (ref, ostreeRef, digest, version, created)."""
    reg, overrides = load_registry()
    target = overrides.get(name, name)
    for img in reg["images"]:
        if img["ref"] == target:
            return img
    known = ", ".join(i["ref"] for i in reg["images"])
    raise ToolError(f"Pulling: {name}: manifest unknown (the testbed registry serves: {known})")


# --- sysroot ---------------------------------------------------------------------------------------

class Host:
    """A loaded (optionally locked) sysroot plus the facts both tools derive from it."""

    def __init__(self, lock=False):
        self.sysroot = OSTree.Sysroot.new_default()
        self.sysroot.load(None)
        self.locked = False
        if lock:
            self.sysroot.lock()
            self.locked = True
        self.repo = self.sysroot.repo()
        self.deployments = list(self.sysroot.get_deployments())
        self.booted = self.sysroot.get_booted_deployment()
        if self.booted is None:
            raise ToolError("This system is not booted via OSTree (no booted deployment)")
        self.staged = self.sysroot.get_staged_deployment()
        self.stateroot = self.booted.get_osname()

    def close(self):
        if self.locked:
            self.sysroot.unlock()
            self.locked = False

    # deployment identity (GObject wrappers are not stable across calls)
    @staticmethod
    def key(d):
        return (d.get_osname(), d.get_csum(), d.get_deployserial())

    def same(self, a, b):
        return a is not None and b is not None and self.key(a) == self.key(b)

    def is_booted(self, d):
        return self.same(d, self.booted)

    def is_staged(self, d):
        return d.is_staged()

    def booted_index(self):
        for i, d in enumerate(self.deployments):
            if self.is_booted(d):
                return i
        return -1

    def record(self, d):
        """The plain record logic.py decides on (the deployment object rides along as "dep")."""
        return {"key": self.key(d), "osname": d.get_osname(), "staged": d.is_staged(),
                "pinned": d.is_pinned(), "booted": self.is_booted(d), "dep": d}

    def records(self):
        return [self.record(d) for d in self.deployments]

    def pending(self):
        """ostree_sysroot_query_deployments_for's pending: the first deployment of the booted
        stateroot before the booted one (a staged deployment is always first)."""
        p, _ = logic.query_deployments_for(self.records(), self.stateroot)
        return p["dep"] if p is not None else None

    def rollback(self):
        """ostree_sysroot_query_deployments_for's rollback: the first one after the booted one."""
        _, r = logic.query_deployments_for(self.records(), self.stateroot)
        return r["dep"] if r is not None else None

    # commits
    def commit(self, csum):
        _, variant, _ = self.repo.load_commit(csum)
        return variant

    def commit_meta(self, csum):
        return unpack_meta(self.commit(csum).get_child_value(0))

    def commit_timestamp(self, csum):
        return OSTree.commit_get_timestamp(self.commit(csum))

    def commit_parent(self, csum):
        return OSTree.commit_get_parent(self.commit(csum))

    def base_commit(self, csum):
        """For an rpm-ostree client-side layer commit: its base (the parent); else the commit itself."""
        if self.commit_meta(csum).get("rpmostree.clientlayer"):
            return self.commit_parent(csum)
        return csum

    def detached_meta(self, csum):
        _, v = self.repo.read_commit_detached_metadata(csum, None)
        return unpack_meta(v) if v is not None else {}

    def write_detached_meta(self, csum, strings):
        """Replace a commit's detached metadata by `strings` (a{sv} of strings), as
        ostree-ext's cache_pending() does."""
        vd = GLib.VariantDict.new(None)
        for k, v in strings.items():
            vd.insert_value(k, GLib.Variant("s", v))
        self.repo.write_commit_detached_metadata(csum, vd.end(), None)

    def rev_parse(self, ref):
        _, csum = self.repo.resolve_rev(ref, False)
        return csum

    # deployment facts
    @staticmethod
    def origin(d):
        return d.get_origin()

    @staticmethod
    def kargs(d):
        bc = d.get_bootconfig()
        opts = bc.get("options") if bc is not None else None
        return opts.split() if opts else []

    def deployment_dir(self, d):
        return os.path.join("/sysroot", self.sysroot.get_deployment_dirpath(d))

    # mutation
    def stage(self, csum, origin, kargs):
        """Stage a new deployment of commit `csum` (booted deployment = /etc merge source)."""
        res = self.sysroot.stage_tree(self.stateroot, csum, origin, self.booted, kargs, None)
        return res[1] if isinstance(res, tuple) else res

    def write(self, new_list):
        """Write the deployment list (boot order), then remove deployments that left it.

        Plain write_deployments() also prunes the whole repo, which walks every object: close to a
        minute under TCG. prepare_cleanup() does the same cleanup of deployments and boot entries
        without the prune; a throwaway testbed guest can keep its unreferenced objects.
        """
        opts = OSTree.SysrootWriteDeploymentsOpts()
        opts.do_postclean = False
        self.sysroot.write_deployments_with_options(new_list, opts, None)
        self.sysroot.prepare_cleanup(None)


def unpack_meta(variant):
    out = {}
    for i in range(variant.n_children()):
        entry = variant.get_child_value(i)
        k = entry.get_child_value(0).get_string()
        v = entry.get_child_value(1).get_variant()
        out[k] = variant_to_json(v)
    return out


def variant_to_json(v):
    t = v.get_type_string()
    if t == "ay":
        try:
            return bytes(v.unpack()).decode("utf-8")
        except UnicodeDecodeError:
            return list(v.unpack())
    if t.startswith("a{") and t[2] == "s":
        return unpack_meta_generic(v)
    val = v.unpack()
    return val


def unpack_meta_generic(v):
    out = {}
    for i in range(v.n_children()):
        e = v.get_child_value(i)
        k = e.get_child_value(0).get_string()
        inner = e.get_child_value(1)
        if inner.get_type_string() == "v":
            inner = inner.get_variant()
        out[k] = variant_to_json(inner)
    return out


# --- origins ---------------------------------------------------------------------------------------

def origin_imgref(origin):
    if origin is None:
        return None
    try:
        return origin.get_string("origin", "container-image-reference")
    except GLib.Error:
        return None


def origin_list(origin, group, key):
    if origin is None:
        return []
    try:
        val = origin.get_string(group, key)
    except GLib.Error:
        return []
    return [p for p in val.split(";") if p]


def origin_groups(origin):
    if origin is None:
        return []
    groups, _ = origin.get_groups()
    return list(groups)


def origin_has_rpmostree_stuff(origin):
    return logic.origin_has_rpmostree_stuff(origin_groups(origin))


def keyfile_from_text(text):
    kf = GLib.KeyFile.new()
    kf.load_from_data(text, len(text.encode()), GLib.KeyFileFlags.KEEP_COMMENTS)
    return kf


def copy_origin(origin):
    kf = GLib.KeyFile.new()
    if origin is not None:
        data, _ = origin.to_data()
        kf.load_from_data(data, len(data.encode()), GLib.KeyFileFlags.KEEP_COMMENTS)
    return kf


# --- kernel arguments ------------------------------------------------------------------------------

KARGS_D = "usr/lib/bootc/kargs.d"


def kargs_d_of_dir(root):
    """kargs.d of a deployed root (logic.kargs_d; None when the directory does not exist)."""
    d = os.path.join(root, KARGS_D)
    if not os.path.isdir(d):
        return None
    files = {}
    for n in os.listdir(d):
        p = os.path.join(d, n)
        if os.path.isfile(p):
            with open(p) as f:
                files[n] = f.read()
    return logic.kargs_d(files)


def kargs_d_of_commit(host, csum):
    """kargs.d of a commit's tree (None when the directory does not exist)."""
    _, root, _ = host.repo.read_commit(csum, None)
    d = root.resolve_relative_path(KARGS_D)
    if not d.query_exists(None):
        return None
    files = {}
    it = d.enumerate_children("standard::name,standard::type", Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS, None)
    for info in it:
        if info.get_file_type() == Gio.FileType.REGULAR:
            # (g_file_load_contents on an OstreeRepoFile trips a GLib-GIO assertion; read the
            # content object directly instead)
            child = d.get_child(info.get_name())
            _, stream, finfo, _ = host.repo.load_file(child.get_checksum(), None)
            data = stream.read_bytes(finfo.get_size(), None).get_data() if finfo.get_size() else b""
            files[info.get_name()] = bytes(data).decode()
    return logic.kargs_d(files)


# --- misc ------------------------------------------------------------------------------------------

def iso_utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reboot():
    sys.stdout.flush()
    subprocess.run(["systemctl", "reboot"], check=False)


# --- package layering (rpm-ostree client-side layer from the local .deb pool) ------------------------

def pool_index():
    idx = {}
    try:
        with open(os.path.join(POOL_DIR, "index")) as f:
            for line in f:
                name, _, debs = line.partition(":")
                if name.strip():
                    idx[name.strip()] = debs.split()
    except FileNotFoundError:
        pass
    return idx


def pool_debs(packages):
    idx = pool_index()
    missing = [p for p in packages if p not in idx]
    if missing:
        raise ToolError(f"Packages not found: {', '.join(missing)}")
    files = []
    for p in packages:
        for dep in idx[p]:
            matches = sorted(f for f in os.listdir(POOL_DIR) if f.startswith(dep + "_") and f.endswith(".deb"))
            if not matches:
                raise ToolError(f"testbed package pool is missing {dep} (needed by {p})")
            if matches[0] not in files:
                files.append(matches[0])
    return [os.path.join(POOL_DIR, f) for f in files]


# merged-/usr: Debian packages may still ship files under /bin, /lib…; the OSTree tree has them
# only under /usr (the top-level names are symlinks), so move them there before committing.
USRMERGE_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def build_layer_commit(host, base_csum, packages, version):
    """Commit base + the packages' files (dpkg-deb -x) as a client-side layer; returns the checksum."""
    debs = pool_debs(packages)
    with tempfile.TemporaryDirectory(prefix="rpm-ostree-layer.", dir="/var/tmp") as tmp:
        ovl = os.path.join(tmp, "root")
        os.mkdir(ovl)
        for deb in debs:
            r = subprocess.run(["dpkg-deb", "-x", deb, ovl], capture_output=True, text=True)
            if r.returncode != 0:
                raise ToolError(f"unpacking {os.path.basename(deb)}: {r.stderr.strip()}")
        usr = os.path.join(ovl, "usr")
        os.makedirs(usr, exist_ok=True)
        for d in USRMERGE_DIRS:
            src = os.path.join(ovl, d)
            if os.path.isdir(src) and not os.path.islink(src):
                subprocess.run(["cp", "-a", src + "/.", os.path.join(usr, d) + "/"], check=True)
                subprocess.run(["rm", "-rf", src], check=True)
        if os.path.isdir(os.path.join(ovl, "etc")):
            os.makedirs(os.path.join(usr, "etc"), exist_ok=True)
            subprocess.run(["cp", "-a", os.path.join(ovl, "etc") + "/.", os.path.join(usr, "etc") + "/"], check=True)
            subprocess.run(["rm", "-rf", os.path.join(ovl, "etc")], check=True)
        for d in ("var", "run", "tmp", "boot"):
            subprocess.run(["rm", "-rf", os.path.join(ovl, d)], check=True)
        extra = sorted(set(os.listdir(ovl)) - {"usr"})
        if extra:
            raise ToolError(f"cannot layer {', '.join(packages)}: files outside /usr, /etc, /var ({', '.join(extra)})")
        os.chmod(ovl, 0o755)
        csum = commit_layer(base_csum, ovl, version)
    return csum


def commit_layer(base_csum, overlay_dir, version):
    """Commit base + overlay_dir like `ostree commit --tree=ref=BASE --tree=dir=DIR --bootable`.

    Through libostree's lazy mutable tree: only the directories the overlay touches are loaded.
    The CLI's --tree=ref walks the whole base tree first, which takes over a minute under TCG.
    """
    repo = OSTree.Repo.new(Gio.File.new_for_path("/sysroot/ostree/repo"))
    repo.open(None)
    repo.prepare_transaction(None)
    try:
        mtree = OSTree.MutableTree.new_from_commit(repo, base_csum)
        modifier = OSTree.RepoCommitModifier.new(OSTree.RepoCommitModifierFlags.SKIP_XATTRS, None)
        repo.write_directory_to_mtree(Gio.File.new_for_path(overlay_dir), mtree, modifier, None)
        _, root = repo.write_mtree(mtree, None)
        meta = GLib.VariantDict.new(None)
        meta.insert_value("rpmostree.clientlayer", GLib.Variant("b", True))
        meta.insert_value("rpmostree.clientlayer_version", GLib.Variant("s", "4"))
        if version:
            meta.insert_value("version", GLib.Variant("s", version))
        OSTree.commit_metadata_for_bootable(root, meta, None)
        _, csum = repo.write_commit(base_csum, "rpm-ostree client layer", None, meta.end(), root, None)
        repo.commit_transaction(None)
    except BaseException:
        repo.abort_transaction(None)
        raise
    return csum
