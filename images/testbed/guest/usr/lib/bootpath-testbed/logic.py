"""The stand-ins' decisions, as plain Python: no libostree, no file system, no guest-only imports.

`rpm-ostree` and `bootc` (usr/bin/) read the sysroot through libostree, turn what they read into
the plain records below, let these functions decide, and carry the decision out on the sysroot.
Keeping the rules here lets the host run them in unit tests without a VM
(images/testbed/tests/test_logic.py). Each rule names the upstream code it follows; the fidelity
table (images/testbed/fidelity.yaml) lists them with their pinned tags.

Deployment records are dicts: {"key": hashable identity, "osname": str, "staged": bool,
"pinned": bool, "booted": bool}, in the sysroot's deployment order (index 0 = default).
"""
import json
import re


class ToolError(Exception):
    """A user-facing failure: printed as `error: <message>` with exit code `code` (both tools)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


# --- libostree kernel arguments (ostree v2026.4 src/libostree/ostree-kernel-args.c) -----------------

def split_kernel_args(s):
    """split_kernel_args(): split on spaces outside double quotes; leading spaces skipped."""
    out = []
    quoted = False
    i = len(s) - len(s.lstrip(" "))
    start = i
    while i < len(s):
        c = s[i]
        if c == '"':
            quoted = not quoted
        elif c == " " and not quoted:
            out.append(s[start:i])
            start = i + 1
        i += 1
    if start < len(s):
        out.append(s[start:])
    return out


def _split_keyeq(arg):
    key, eq, val = arg.partition("=")
    return key, (val if eq else None)


class KernelArgs:
    """OstreeKernelArgs: ordered entries (key, value-or-None); a key may repeat."""

    def __init__(self):
        self.order = []  # [key, value] lists, shared by identity

    @classmethod
    def from_string(cls, options):
        ka = cls()
        if options:
            for arg in split_kernel_args(options):
                ka.append(arg)
        return ka

    @classmethod
    def from_strv(cls, argv):
        ka = cls()
        for arg in argv:
            ka.append(arg)
        return ka

    def _entries(self, key):
        return [e for e in self.order if e[0] == key]

    def append(self, arg):
        """ostree_kernel_args_append(): always appends, duplicates included."""
        for tok in split_kernel_args(arg):
            key, val = _split_keyeq(tok)
            self.order.append([key, val])

    def delete(self, arg):
        """ostree_kernel_args_delete()."""
        for tok in split_kernel_args(arg):
            key, val = _split_keyeq(tok)
            entries = self._entries(key)
            if not entries:
                raise ToolError(f"No key '{key}' found")
            if len(entries) == 1:
                # deleting by key alone is allowed when there is one value; a given value must match
                if val is not None and val != entries[0][1]:
                    raise ToolError(f"No karg '{key}={val}' found")
                self.order = [e for e in self.order if e[0] != key]
                continue
            hit = next((e for e in entries if e[1] == val), None)
            if hit is None:
                if val is None:
                    raise ToolError(f"Multiple values for key '{arg}' found")
                raise ToolError(f"No karg '{arg}' found")
            self.order = [e for e in self.order if e is not hit]

    def new_replace(self, arg):
        """ostree_kernel_args_new_replace(): KEY, KEY=NEW or KEY=OLD=NEW."""
        for tok in split_kernel_args(arg):
            key, val = _split_keyeq(tok)
            entries = self._entries(key)
            if not entries:
                raise ToolError(f"No key '{key}' found")
            if val is not None and "=" in val:
                old, _, new = val.partition("=")
                hit = next((e for e in entries if e[1] == old), None)
                if hit is None:
                    raise ToolError(f"No karg '{key}={old}' found")
                hit[1] = new
                continue
            if len(entries) > 1:
                raise ToolError(f"Multiple values for key '{key}' found")
            entries[0][1] = val

    def to_strv(self):
        return [k if v is None else f"{k}={v}" for k, v in self.order]


def rpmostree_kargs_check_options(opts, display):
    """rpmostree_builtin_kargs() option checks (rpm-ostree v2026.2 src/app/rpmostree-builtin-kargs.cxx)."""
    if opts.get("delete") and opts.get("replace"):
        raise ToolError("Cannot specify both --delete and --replace")
    if opts.get("reboot") and display:
        raise ToolError("Cannot reboot when kernel arguments not changed")


def rpmostree_kargs_patch(existing, delete=(), replace=(), append=(), append_if_missing=(), delete_if_present=()):
    """kernel_arg_apply_patching() (rpm-ostree v2026.2 src/daemon/rpmostreed-transaction-types.cxx).

    Order: delete, replace, append, append-if-missing, delete-if-present. Any --delete/--replace/
    --append counts as a change even when the result is identical; append-if-missing compares the
    exact string against the current list; delete-if-present against the ORIGINAL kargs.
    `existing` is the options string (or list). Returns (new kargs list, changed).
    """
    if isinstance(existing, (list, tuple)):
        existing = " ".join(existing)
    kargs = KernelArgs.from_string(existing)
    original = KernelArgs.from_string(existing).to_strv()
    changed = False
    for arg in delete:
        kargs.delete(arg)
        changed = True
    for arg in replace:
        kargs.new_replace(arg)
        changed = True
    if append:
        for arg in append:
            kargs.append(arg)
        changed = True
    for arg in append_if_missing:
        if arg not in kargs.to_strv():
            kargs.append(arg)
            changed = True
    for arg in delete_if_present:
        if arg in original:
            kargs.delete(arg)
            changed = True
    return kargs.to_strv(), changed


def proc_cmdline_kargs(cmdline):
    """ostree_kernel_args_append_proc_cmdline(): /proc/cmdline minus BOOT_IMAGE= and initrd=."""
    return [a for a in split_kernel_args(cmdline.strip()) if not a.startswith(("BOOT_IMAGE=", "initrd="))]


# --- bootc kernel arguments --------------------------------------------------------------------------
# Cmdline semantics: bootc v1.16.0 crates/kernel_cmdline/src/bytes.rs (published as
# linux-kernel-cmdline 0.1.1, which bootc v1.16.9 uses). Keys compare with '-' == '_'.

def _param_parts(p):
    key, eq, val = p.partition("=")
    return key.replace("-", "_"), (val if eq else None)


def cmdline_param_eq(a, b):
    return _param_parts(a) == _param_parts(b)


def cmdline_add(params, p):
    """Cmdline::add(): append unless an equal parameter exists (Action::Existed)."""
    if any(cmdline_param_eq(q, p) for q in params):
        return list(params)
    return list(params) + [p]


def cmdline_remove_exact(params, p):
    """Cmdline::remove_exact(): drop every parameter equal to p."""
    return [q for q in params if not cmdline_param_eq(q, p)]


def parse_kargs_toml(text, arch="x86_64"):
    """bootc_kargs::parse_kargs_toml(): None when match-architectures excludes `arch`."""
    import tomllib
    data = tomllib.loads(text)
    unknown = set(data) - {"kargs", "match-architectures"}
    if unknown:
        # the Config struct is deny_unknown_fields
        raise ToolError(f"unknown field `{sorted(unknown)[0]}`, expected `kargs` or `match-architectures`")
    if "kargs" not in data:
        raise ToolError("missing field `kargs`")
    arches = data.get("match-architectures")
    if arches is not None and arch not in arches:
        return None
    return split_kernel_args(" ".join(data["kargs"]))


def kargs_d(files, arch="x86_64"):
    """get_kargs_in_root(): *.toml files in name order, each file's kargs added (deduplicated).

    `files` maps file name -> text, or is None when /usr/lib/bootc/kargs.d does not exist.
    """
    if files is None:
        return None
    out = []
    for name in sorted(files):
        if not name.endswith(".toml") or name == ".toml":
            continue
        try:
            kargs = parse_kargs_toml(files[name], arch)
        except ToolError as e:
            raise ToolError(f"Parsing {name}: {e}") from e
        except ValueError as e:
            raise ToolError(f"Parsing {name}: {e}") from e
        for k in kargs or []:
            out = cmdline_add(out, k)
    return out


def bootc_new_kargs(merge_kargs, merge_kargs_d, new_kargs_d):
    """bootc_kargs::get_kargs() (bootc v1.16.9 crates/lib/src/bootc_kargs.rs).

    merge_kargs: the merge (booted) deployment's BLS options as a list; merge_kargs_d: kargs.d of
    the merge deployment's root (None = no directory); new_kargs_d: kargs.d of the new image
    (None = no directory: then the merge root's kargs.d args are added, nothing is removed).
    """
    kargs = list(merge_kargs)
    existing = merge_kargs_d or []
    if new_kargs_d is None:
        for k in existing:
            kargs = cmdline_add(kargs, k)
        return kargs
    added = [r for r in new_kargs_d if not any(cmdline_param_eq(r, e) for e in existing)]
    removed = [e for e in existing if not any(cmdline_param_eq(e, r) for r in new_kargs_d)]
    for k in removed:
        kargs = cmdline_remove_exact(kargs, k)
    for k in added:
        kargs = cmdline_add(kargs, k)
    return kargs


# --- deployment lists --------------------------------------------------------------------------------

def query_deployments_for(deps, osname):
    """ostree_sysroot_query_deployments_for() (ostree v2022.7 src/libostree/ostree-sysroot.c):
    pending = first deployment of `osname` before the booted one, rollback = first after it."""
    pending = rollback = None
    found_booted = False
    for d in deps:
        if d["osname"] != osname:
            continue
        if d["booted"]:
            found_booted = True
            continue
        if not found_booted and pending is None:
            pending = d
        elif found_booted and rollback is None:
            rollback = d
    return pending, rollback


def booted_of(deps):
    return next(d for d in deps if d["booted"])


def rpmostree_rollback(deps):
    """rollback_transaction_execute() (rpm-ostree v2026.2 src/daemon/rpmostreed-transaction-types.cxx).

    Returns (target, new order, default changed)."""
    booted = booted_of(deps)
    pending, rollback = query_deployments_for(deps, booted["osname"])
    if rollback is None and pending is None:
        raise ToolError("No rollback deployment found")
    if pending is not None and pending["staged"]:
        raise ToolError("Staged deployment (remove with cleanup -p)")
    target = rollback if rollback is not None else booted
    new = [target] + [d for d in deps if d["key"] != target["key"]]
    return target, new, new[0]["key"] != deps[0]["key"]


def rpmostree_cleanup(deps, pending, rollback):
    """rpmostree_syscore_filter_deployments() (rpm-ostree v2026.2 src/daemon/rpmostree-sysroot-core.cxx):
    -p drops every unpinned deployment of the booted stateroot before the booted one, -r every one
    after it. Returns the new list, or None when nothing would change ("Deployments unchanged.")."""
    booted = booted_of(deps)
    new = []
    found_booted = False
    for d in deps:
        if d["booted"]:
            found_booted = True
            new.append(d)
            continue
        if d["osname"] != booted["osname"] or d["pinned"]:
            new.append(d)
            continue
        if not found_booted and pending:
            continue
        if found_booted and rollback:
            continue
        new.append(d)
    return None if len(new) == len(deps) else new


def rpmostree_pending_exit_77(deps):
    """rpmostree_builtin_status(): exit 77 when there are several deployments and the first is not booted."""
    return len(deps) > 1 and not deps[0]["booted"]


def rpmostree_mutation_source(deps):
    """The deployment rpm-ostree's upgrader builds on: the pending deployment of the booted stateroot
    if there is one, else the booted one (rpmostree_syscore_get_origin_merge_deployment)."""
    booted = booted_of(deps)
    pending, _ = query_deployments_for(deps, booted["osname"])
    return pending if pending is not None else booted


def bootc_partition(deps):
    """get_status() (bootc v1.16.9 crates/lib/src/status.rs): staged, rollback, other, rollbackQueued."""
    booted = booted_of(deps)
    related = [d for d in deps if d["osname"] == booted["osname"]]
    others_sr = [d for d in deps if d["osname"] != booted["osname"]]
    staged = next((d for d in related if d["staged"]), None)
    rest = [d for d in related if d is not staged and d["key"] != booted["key"]]
    rollback = rest.pop(0) if rest else None
    index = {d["key"]: i for i, d in enumerate(deps)}
    queued = rollback is not None and index[rollback["key"]] < index[booted["key"]]
    return {"staged": staged, "booted": booted, "rollback": rollback, "other": rest + others_sr,
            "rollbackQueued": queued}


def bootc_spec(staged_entry, booted_entry, rollback_queued):
    """HostSpec from the staged entry, else the booted one; HostSpec::default() (no image, default
    boot order) when that entry has no image (e.g. it is incompatible)."""
    src = staged_entry if staged_entry is not None else booted_entry
    if src is None or src["image"] is None:
        return {"image": None, "bootOrder": "default"}
    return {"image": src["image"]["image"], "bootOrder": "rollback" if rollback_queued else "default"}


def bootc_rollback(parts, spec, rollback_entry):
    """deploy::rollback() (bootc v1.16.9 crates/lib/src/deploy.rs). Returns (new order, reverting).
    The staged deployment is not in the new list: writing it discards the staged deployment."""
    reverting = spec["bootOrder"] == "rollback"  # swap() of the current order gives Default
    if parts["rollback"] is None:
        raise ToolError("Rollback: Rollback (ostree): No rollback available")
    if rollback_entry["image"] is None:
        raise ToolError("Rollback: Rollback (ostree): Rollback is not container image based")
    pair = [parts["booted"], parts["rollback"]] if reverting else [parts["rollback"], parts["booted"]]
    return pair + parts["other"], reverting


# --- origins -----------------------------------------------------------------------------------------

# rpm-ostree client-side state in an origin (bootc v1.16.9 crates/lib/src/utils.rs
# origin_has_rpmostree_stuff): such deployments are incompatible for bootc.
RPMOSTREE_GROUPS = ("rpmostree", "packages", "overrides", "modules")


def origin_has_rpmostree_stuff(groups):
    return any(g in groups for g in RPMOSTREE_GROUPS)


def rpmostree_origin_text(imgref, packages=()):
    """treefile_to_origin_inner() (rpm-ostree v2026.2 rust/src/origin.rs): [origin]
    container-image-reference; packages as a BTreeSet (sorted, unique) `a;b;`, group omitted when empty
    (kf_set_string_list_optional)."""
    text = f"[origin]\ncontainer-image-reference={imgref}\n"
    pkgs = sorted(set(packages))
    if pkgs:
        text += "\n[packages]\nrequested=" + "".join(f"{p};" for p in pkgs) + "\n"
    return text


def bootc_origin_text(imgref):
    """origin_from_imageref() (bootc v1.16.9 crates/lib/src/deploy.rs): only [origin]
    container-image-reference, so rpm-ostree layering is not carried over."""
    return f"[origin]\ncontainer-image-reference={imgref}\n"


def package_edit(current, add, remove, idempotent=False):
    """Treefile::add_packages / remove_packages (rpm-ostree v2026.2 rust/src/treefile.rs)."""
    pkgs = set(current)
    for p in remove:
        if p not in pkgs:
            if idempotent:
                continue
            raise ToolError(f"Package/capability '{p}' is not currently requested")
        pkgs.discard(p)
    for p in add:
        if p in pkgs:
            if idempotent:
                continue
            raise ToolError(f"Package/capability '{p}' is already requested")
        pkgs.add(p)
    return sorted(pkgs)


# --- bootc cached updates (bootc v1.16.9 crates/ostree-ext/src/container/store.rs) --------------------

CACHED_KEY_MANIFEST_DIGEST = "ostree-ext.cached.manifest-digest"
CACHED_KEY_MANIFEST = "ostree-ext.cached.manifest"
CACHED_KEY_CONFIG = "ostree-ext.cached.config"
VERSION_LABEL = "org.opencontainers.image.version"


def cached_update_meta(img):
    """What ImageImporter::cache_pending() writes as detached metadata of the previous image's commit
    when prepare() finds a new manifest. `img` is a testbed registry entry."""
    config = {"architecture": "amd64", "os": "linux", "created": img["created"],
              "config": {"Labels": {VERSION_LABEL: img["version"]}}}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img["digest"], "size": 0},
                "layers": []}
    return {CACHED_KEY_MANIFEST_DIGEST: img["digest"],
            CACHED_KEY_MANIFEST: json.dumps(manifest, sort_keys=True, separators=(",", ":")),
            CACHED_KEY_CONFIG: json.dumps(config, sort_keys=True, separators=(",", ":"))}


def cached_update_status(image_ref, meta):
    """parse_cached_update() + create_imagestatus(): None when the detached metadata lacks the key."""
    if not meta or CACHED_KEY_MANIFEST_DIGEST not in meta:
        return None
    config = json.loads(meta[CACHED_KEY_CONFIG])
    labels = (config.get("config") or {}).get("Labels") or {}
    return {"image": image_ref, "version": labels.get(VERSION_LABEL), "timestamp": config.get("created"),
            "imageDigest": meta[CACHED_KEY_MANIFEST_DIGEST], "architecture": config.get("architecture")}


# --- bootc human status (bootc v1.16.9 crates/lib/src/status.rs human_readable_output) --------------

def _row(name, prefix_len, value):
    """write_row_name(): right-aligned to the prefix's length in chars."""
    return " " * max(0, prefix_len - len(name)) + f"{name}: {value}"


_TITLES = {"staged": "  Staged", "booted": "\u25cf Booted", "rollback": "  Rollback"}


def _human_slot(out, slot, e, verbose):
    if e["image"] is not None:
        img = e["image"]
        prefix = f"{_TITLES[slot]} image" if slot else "   Other image"
        plen = len(prefix)  # human_render_slot: prefix.chars().count()
        ref = img["image"]
        shown = ref["image"] if ref["transport"] == "registry" else f"{ref['transport']}:{ref['image']}"
        out.append(f"{prefix}: {shown}")
        out.append(_row("Digest", plen, f"{img['imageDigest']} ({img['architecture']})"))
        if img["version"]:
            out.append(_row("Version", plen, f"{img['version']} ({img['timestamp']})" if img["timestamp"] else img["version"]))
        elif img["timestamp"]:
            out.append(_row("Timestamp", plen, img["timestamp"]))
    else:
        prefix = f"{_TITLES[slot]} ostree" if slot else " Other ostree"
        plen = len(prefix.encode())  # human_render_slot_ostree: prefix.len(), bytes (the glyph is 3)
        out.append(prefix)
        out.append(_row("Commit", plen, e["ostree"]["checksum"]))
    if e["pinned"]:
        out.append(_row("Pinned", plen, "yes"))
    cached = e["cachedUpdate"]
    if e["image"] is not None and cached is not None and cached["imageDigest"] != e["image"]["imageDigest"]:
        # render_cached_update()
        if cached["version"]:
            ts = f" ({cached['timestamp']})" if cached["timestamp"] else ""
            out.append(_row("UpdateVersion", plen, f"{cached['version']}{ts}"))
        else:
            out.append(_row("Update", plen, "Available"))
        out.append(_row("UpdateDigest", plen, cached["imageDigest"]))
    if verbose:
        # render_verbose_ostree_info, Commit (images only), write_soft_reboot, write_download_only
        out.append(_row("StateRoot", plen, e["ostree"]["stateroot"]))
        out.append(_row("Deploy serial", plen, e["ostree"]["deploySerial"]))
        out.append(_row("Staged", plen, "yes" if slot == "staged" else "no"))
        if e["image"] is not None:
            out.append(_row("Commit", plen, e["ostree"]["checksum"]))
        out.append(_row("Soft-reboot", plen, "yes" if e["softRebootCapable"] else "no"))
        if slot == "staged":
            out.append(_row("Download-only", plen, "yes" if e["downloadOnly"] else "no"))


def bootc_human(doc, verbose=False):
    st = doc["status"]
    if st["booted"] is None:
        return "System is not deployed via bootc."
    out = []
    for slot in ("staged", "booted", "rollback"):
        if st[slot] is None:
            continue
        if out:
            out.append("")
        _human_slot(out, slot, st[slot], verbose)
    for e in st.get("otherDeployments", []):
        out.append("")
        _human_slot(out, None, e, verbose)
    return "\n".join(out)


# --- output formats ----------------------------------------------------------------------------------

def glib_json(value, indent=0):
    """JSON the way json-glib's pretty generator writes it (rpm-ostree status --json)."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        items = [f'{inner}{json.dumps(k)} : {glib_json(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[ ]"
        items = [inner + glib_json(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def canonical_json(doc):
    """bootc status --format=json: RFC 8785 style, compact, keys sorted, no trailing newline."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_YAML_PLAIN_UNSAFE = re.compile(r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF"
                                r"|[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


def yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if (s == "" or _YAML_PLAIN_UNSAFE.match(s) or s[0] in "-?:,[]{}#&*!|>'\"%@`" or s[0].isspace()
            or s[-1].isspace() or ": " in s or " #" in s or "\n" in s):
        return "'" + s.replace("'", "''") + "'"
    return s


def yaml_dump(value, indent=0):
    """YAML in serde_yaml's style (bootc status --format=yaml): block maps, `- ` lists at the
    parent's indentation, single-quoted strings only where plain scalars would be ambiguous."""
    lines = []
    pad = "  " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{k}:")
                lines.append(yaml_dump(v, indent + 1))
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{k}:")
                lines.append(yaml_dump(v, indent))
            elif isinstance(v, dict):
                lines.append(f"{pad}{k}: {{}}")
            elif isinstance(v, list):
                lines.append(f"{pad}{k}: []")
            else:
                lines.append(f"{pad}{k}: {yaml_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                sub = yaml_dump(item, indent + 1).split("\n")
                sub[0] = pad + "- " + sub[0].lstrip()
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {yaml_scalar(item)}")
    return "\n".join(lines)
