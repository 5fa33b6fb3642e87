"""Host-side fidelity tests of the testbed stand-ins' decisions (guest/usr/lib/bootpath-testbed/logic.py).

Run: python3 -m unittest discover -s images/testbed/tests (stdlib only; test/unit/testbed-standins.test.ts
runs it under `npm test`). Cases marked "from:" restate a test of the real project at the pinned tag.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# No __pycache__ under guest/: the testbed image's inputs key hashes every file there.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "guest", "usr", "lib", "bootpath-testbed"))

import logic  # noqa: E402
from logic import KernelArgs, ToolError  # noqa: E402


def dep(name, booted=False, staged=False, pinned=False, osname="default"):
    return {"key": name, "osname": osname, "staged": staged, "pinned": pinned, "booted": booted}


def keys(ds):
    return [d["key"] for d in ds]


class OstreeKernelArgsTest(unittest.TestCase):
    """from: ostree v2026.4 tests/test-kargs.c."""

    def test_kargs_append(self):
        # from: test_kargs_append
        ka = KernelArgs()
        for a in ("test=valid", "test=secondvalid", "test=", "test", "second_test", 'second_test=0 second_test="1 2"'):
            ka.append(a)
        self.assertEqual(ka.to_strv(), ["test=valid", "test=secondvalid", "test=", "test", "second_test",
                                        "second_test=0", 'second_test="1 2"'])

    def test_kargs_delete(self):
        # from: test_kargs_delete
        ka = KernelArgs.from_strv(["single_key=test", "test=firstval", "test=secondval", "test=", "test"])
        with self.assertRaisesRegex(ToolError, "^No key 'non_existant_key' found$"):
            ka.delete("non_existant_key")
        ka.delete("test")  # a no-value variant exists
        self.assertNotIn("test", ka.to_strv())
        with self.assertRaisesRegex(ToolError, "^Multiple values for key 'test' found$"):
            ka.delete("test")
        with self.assertRaisesRegex(ToolError, "^No karg 'test=non_existant_value' found$"):
            ka.delete("test=non_existant_value")
        with self.assertRaisesRegex(ToolError, "^No karg 'single_key=non_existent_value' found$"):
            ka.delete("single_key=non_existent_value")
        ka.delete("single_key")
        self.assertNotIn("single_key=test", ka.to_strv())
        ka.delete("test=secondval")
        ka.delete("test=")
        ka.delete("test=firstval")
        self.assertEqual(ka.to_strv(), [])
        ka.append("test=foo")
        ka.append("test=foo")
        ka.delete("test=foo")
        self.assertEqual(ka.to_strv(), ["test=foo"])
        ka.delete("test=foo")
        ka.append("nosmt")
        ka.append("nosmt")
        ka.delete("nosmt")
        self.assertEqual(ka.to_strv(), ["nosmt"])
        ka.delete("nosmt")
        ka.append('foo="1 2" bar=0')
        self.assertEqual(ka.to_strv(), ['foo="1 2"', "bar=0"])
        ka.delete('foo="1 2" bar=0')
        self.assertEqual(ka.to_strv(), [])

    def test_kargs_replace(self):
        # from: test_kargs_replace
        ka = KernelArgs.from_strv(["single_key", "test=firstval", "test=secondval"])
        with self.assertRaisesRegex(ToolError, "^No key 'nonexistantkey' found$"):
            ka.new_replace("nonexistantkey")
        with self.assertRaisesRegex(ToolError, "^No karg 'single_key=nonexistantval' found$"):
            ka.new_replace("single_key=nonexistantval=newval")
        with self.assertRaisesRegex(ToolError, "^Multiple values for key 'test' found$"):
            ka.new_replace("test=newval")
        ka.new_replace("single_key=newvalue")
        ka.new_replace("test=firstval=newval")
        self.assertEqual(ka.to_strv(), ["single_key=newvalue", "test=newval", "test=secondval"])
        ka.append('foo=1 bar="1 2"')
        ka.new_replace('foo="1 2" bar')
        self.assertIn('foo="1 2"', ka.to_strv())
        self.assertIn("bar", ka.to_strv())
        self.assertNotIn("foo=1", ka.to_strv())

    def test_kargs_quoted_cmdline(self):
        # from: test_kargs_quoted_cmdline
        self.assertEqual(KernelArgs.from_string('root=UUID=abc quiet testparam="value with spaces" rw').to_strv(),
                         ["root=UUID=abc", "quiet", 'testparam="value with spaces"', "rw"])
        self.assertEqual(KernelArgs.from_string('root=UUID=abc quiet "testparam=value with spaces" rw').to_strv(),
                         ["root=UUID=abc", "quiet", '"testparam=value with spaces"', "rw"])
        self.assertEqual(KernelArgs.from_string('foo="1 2" bar="3 4"').to_strv(), ['foo="1 2"', 'bar="3 4"'])


class RpmOstreeKargsTest(unittest.TestCase):
    """rpm-ostree v2026.2 kernel_arg_apply_patching(); cases from rpm-ostree's
    tests/vmcheck/test-kernel-args.sh at aae331369db88efa4db6ebdac1295b9a5350b6f1 (its last version)."""

    BASE = "root=LABEL=root rw console=ttyS0,115200 ostree=/ostree/boot.1/default/x/0"

    def patch(self, existing, **kw):
        return logic.rpmostree_kargs_patch(existing, **{k.replace("-", "_"): v for k, v in kw.items()})

    def test_append_keeps_duplicate_keys(self):
        # from: "ok kargs append"
        new, changed = self.patch(self.BASE, append=["FOO=BAR", "APPENDARG=VALAPPEND", "APPENDARG=2NDAPPEND"])
        self.assertTrue(changed)
        self.assertIn("APPENDARG=VALAPPEND APPENDARG=2NDAPPEND", " ".join(new))

    def test_append_and_delete(self):
        # from: "ok kargs append and delete"
        start = self.BASE + " APPENDARG=VALAPPEND APPENDARG=2NDAPPEND"
        new, _ = self.patch(start, append=["APPENDARG=3RDAPPEND"], delete=["APPENDARG=VALAPPEND"])
        self.assertNotIn("APPENDARG=VALAPPEND", new)
        self.assertIn("APPENDARG=3RDAPPEND", new)

    def test_delete_multi_valued_key(self):
        # from: "Multiple values for key 'APPENDARG' found"
        with self.assertRaisesRegex(ToolError, "^Multiple values for key 'APPENDARG' found$"):
            self.patch("APPENDARG=VALAPPEND APPENDARG=2NDAPPEND", delete=["APPENDARG"])

    def test_replace(self):
        # from: the kargs replace block
        start = "REPLACE_TEST=TEST REPLACE_MULTI_TEST=TEST REPLACE_MULTI_TEST=NUMBERTWO"
        new, _ = self.patch(start, replace=["REPLACE_TEST=HELLO"])
        self.assertIn("REPLACE_TEST=HELLO", new)
        with self.assertRaisesRegex(ToolError, "^Multiple values for key 'REPLACE_MULTI_TEST' found$"):
            self.patch(start, replace=["REPLACE_MULTI_TEST=ERR"])
        new, _ = self.patch(start, replace=["REPLACE_MULTI_TEST=TEST=NEWTEST"])
        self.assertEqual(new, ["REPLACE_TEST=TEST", "REPLACE_MULTI_TEST=NEWTEST", "REPLACE_MULTI_TEST=NUMBERTWO"])

    def test_if_missing_and_if_present_are_idempotent(self):
        # from: "ok kargs appended with append-if-missing only if missing" / "... deleted with delete-if-present ..."
        new, changed = self.patch(self.BASE, append_if_missing=["PACKAGE3=TEST3"])
        self.assertTrue(changed)
        again, changed = self.patch(new, append_if_missing=["PACKAGE3=TEST3"])
        self.assertFalse(changed)
        self.assertEqual(again, new)
        gone, changed = self.patch(new, delete_if_present=["PACKAGE3=TEST3"])
        self.assertTrue(changed)
        self.assertNotIn("PACKAGE3=TEST3", gone)
        _, changed = self.patch(gone, delete_if_present=["PACKAGE3=TEST3"])
        self.assertFalse(changed)  # --unchanged-exit-77 then exits 77

    def test_existing_key_with_other_value(self):
        # from: "ok for append-if-missing and delete-if-present with existing key"
        new, changed = self.patch("PACKAGE4=TEST4", append_if_missing=["PACKAGE4=NEWTEST"])
        self.assertEqual((new, changed), (["PACKAGE4=TEST4", "PACKAGE4=NEWTEST"], True))
        _, changed = self.patch(new, delete_if_present=["PACKAGE4=TEST"])
        self.assertFalse(changed)

    def test_append_then_append_if_missing_same_value(self):
        # from: "ok for append and append-if-missing with the same value"
        new, _ = self.patch("rw", append=["foo"], append_if_missing=["foo"])
        self.assertEqual(new, ["rw", "foo"])
        new, _ = self.patch("rw", append_if_missing=["bar=foo", "bar=foo"])
        self.assertEqual(new, ["rw", "bar=foo"])

    def test_order_delete_replace_append_if_missing_if_present(self):
        # the daemon's order, and delete-if-present looks at the ORIGINAL kargs: a karg only
        # appended in the same call is not deleted, one present before is deleted after the appends
        new, _ = self.patch("a=1 b=1", append=["c=1"], delete_if_present=["c=1", "a=1"], replace=["b=2"])
        self.assertEqual(new, ["b=2", "c=1"])
        # the machine-config-daemon's shape: delete-if-present old + append new
        new, _ = self.patch("rw bootpath.mc=old", delete_if_present=["bootpath.mc=old"], append=["bootpath.mc=new"])
        self.assertEqual(new, ["rw", "bootpath.mc=new"])
        # delete runs before append: deleting a karg the same call appends fails
        with self.assertRaisesRegex(ToolError, "^No key 'x' found$"):
            self.patch("rw", append=["x=1"], delete=["x=1"])

    def test_every_append_delete_replace_is_a_change(self):
        # kernel_arg_apply_patching sets changed for any --delete/--replace/--append, even when the
        # result equals the original: a new deployment is staged
        new, changed = self.patch("a=1", replace=["a=1"])
        self.assertEqual((new, changed), (["a=1"], True))
        new, changed = self.patch("a=1", delete=["a=1"], append=["a=1"])
        self.assertEqual((new, changed), (["a=1"], True))

    def test_option_checks(self):
        with self.assertRaisesRegex(ToolError, "^Cannot specify both --delete and --replace$"):
            logic.rpmostree_kargs_check_options({"delete": ["a"], "replace": ["b=1"]}, display=False)
        with self.assertRaisesRegex(ToolError, "^Cannot reboot when kernel arguments not changed$"):
            logic.rpmostree_kargs_check_options({"reboot": True}, display=True)

    def test_proc_cmdline_filter(self):
        # ostree_kernel_args_append_proc_cmdline filters BOOT_IMAGE= and initrd=
        self.assertEqual(logic.proc_cmdline_kargs("BOOT_IMAGE=/vmlinuz root=LABEL=root initrd=/x rw\n"),
                         ["root=LABEL=root", "rw"])


class BootcKargsTest(unittest.TestCase):
    """bootc v1.16.9 crates/lib/src/bootc_kargs.rs and its tests module."""

    def test_arch(self):
        # from: test_arch
        text = 'kargs = ["console=tty0", "nosmt"]'
        self.assertEqual(logic.parse_kargs_toml(text, "x86_64"), ["console=tty0", "nosmt"])
        self.assertEqual(logic.parse_kargs_toml(text, "aarch64"), ["console=tty0", "nosmt"])
        self.assertIsNone(logic.parse_kargs_toml(text + '\nmatch-architectures = ["x86_64"]\n', "aarch64"))
        self.assertEqual(logic.parse_kargs_toml(text + '\nmatch-architectures = ["aarch64"]\n', "aarch64"),
                         ["console=tty0", "nosmt"])
        both = text + '\nmatch-architectures = ["x86_64", "aarch64"]\n'
        self.assertEqual(logic.parse_kargs_toml(both, "x86_64"), ["console=tty0", "nosmt"])

    def test_invalid(self):
        # from: test_invalid
        with self.assertRaises(ToolError):
            logic.parse_kargs_toml('kargs = ["console=tty0", "nosmt"]\nfoo="bar"', "x86_64")
        with self.assertRaises(ToolError):
            logic.parse_kargs_toml('foo="bar"', "x86_64")

    def test_get_kargs_in_root(self):
        # from: test_get_kargs_in_root
        self.assertIsNone(logic.kargs_d(None))
        self.assertEqual(logic.kargs_d({}), [])
        self.assertEqual(logic.kargs_d({"somegarbage": "garbage"}), [])
        files = {"somegarbage": "garbage", "02-bar.toml": 'kargs = ["console=ttyS1"]',
                 "01-foo.toml": 'kargs = ["console=tty0", "nosmt"]'}
        self.assertEqual(logic.kargs_d(files), ["console=tty0", "nosmt", "console=ttyS1"])

    def test_kargs_d_duplicates_collapse(self):
        # Cmdline::extend adds each parameter unless an equal one is there ('-' == '_' in keys)
        files = {"a.toml": 'kargs = ["x=1", "my-opt=2"]', "b.toml": 'kargs = ["x=1", "my_opt=2", "x=2"]'}
        self.assertEqual(logic.kargs_d(files), ["x=1", "my-opt=2", "x=2"])

    def test_new_kargs_every_kargs_d_combination(self):
        booted = ["root=LABEL=root", "rw", "testbed.v2=1", "user=1"]
        # old root with kargs.d, new image without the directory: booted kargs + old kargs.d (nothing removed)
        self.assertEqual(logic.bootc_new_kargs(booted, ["testbed.v2=1"], None), booted)
        self.assertEqual(logic.bootc_new_kargs(["rw"], ["testbed.v2=1"], None), ["rw", "testbed.v2=1"])
        # neither has a directory
        self.assertEqual(logic.bootc_new_kargs(["rw"], None, None), ["rw"])
        # old without, new with: the new image's args are added
        self.assertEqual(logic.bootc_new_kargs(["rw"], None, ["testbed.v2=1"]), ["rw", "testbed.v2=1"])
        # both with: the diff applies; kept args stay where they are
        self.assertEqual(logic.bootc_new_kargs(booted, ["testbed.v2=1"], ["testbed.next=1"]),
                         ["root=LABEL=root", "rw", "user=1", "testbed.next=1"])
        # empty new directory removes the old image's args
        self.assertEqual(logic.bootc_new_kargs(booted, ["testbed.v2=1"], []), ["root=LABEL=root", "rw", "user=1"])
        # an added arg already present is not duplicated; a removed one goes everywhere it appears
        self.assertEqual(logic.bootc_new_kargs(["a=1", "old=1", "old=1"], ["old=1"], ["a=1"]), ["a=1"])

    def test_param_equality(self):
        self.assertTrue(logic.cmdline_param_eq("foo-bar=1", "foo_bar=1"))
        self.assertFalse(logic.cmdline_param_eq("foo=1", "foo=2"))
        self.assertFalse(logic.cmdline_param_eq("foo", "foo="))


class DeploymentListTest(unittest.TestCase):

    def test_query_deployments_for(self):
        # ostree_sysroot_query_deployments_for: pending before booted, rollback after
        ds = [dep("s", staged=True), dep("b", booted=True), dep("r"), dep("o")]
        p, r = logic.query_deployments_for(ds, "default")
        self.assertEqual((p["key"], r["key"]), ("s", "r"))
        ds = [dep("x", osname="other"), dep("b", booted=True)]
        self.assertEqual(logic.query_deployments_for(ds, "default"), (None, None))

    def test_rpmostree_rollback(self):
        # rollback_transaction_execute
        _, new, changed = logic.rpmostree_rollback([dep("b", booted=True), dep("r")])
        self.assertEqual((keys(new), changed), (["r", "b"], True))
        # only a pending (non-staged) deployment: the booted one goes back on top
        _, new, _ = logic.rpmostree_rollback([dep("p"), dep("b", booted=True)])
        self.assertEqual(keys(new), ["b", "p"])
        # pending and rollback: the rollback deployment becomes first
        _, new, _ = logic.rpmostree_rollback([dep("p"), dep("b", booted=True), dep("r")])
        self.assertEqual(keys(new), ["r", "p", "b"])
        with self.assertRaisesRegex(ToolError, r"^Staged deployment \(remove with cleanup -p\)$"):
            logic.rpmostree_rollback([dep("s", staged=True), dep("b", booted=True), dep("r")])
        with self.assertRaisesRegex(ToolError, "^No rollback deployment found$"):
            logic.rpmostree_rollback([dep("b", booted=True)])

    def test_rpmostree_cleanup(self):
        # rpmostree_syscore_filter_deployments
        ds = [dep("s", staged=True), dep("b", booted=True), dep("r1"), dep("pin", pinned=True), dep("r2"),
              dep("x", osname="other")]
        self.assertEqual(keys(logic.rpmostree_cleanup(ds, pending=True, rollback=False)), ["b", "r1", "pin", "r2", "x"])
        self.assertEqual(keys(logic.rpmostree_cleanup(ds, pending=False, rollback=True)), ["s", "b", "pin", "x"])
        self.assertEqual(keys(logic.rpmostree_cleanup(ds, pending=True, rollback=True)), ["b", "pin", "x"])
        self.assertIsNone(logic.rpmostree_cleanup([dep("b", booted=True), dep("pin", pinned=True)], True, True))

    def test_pending_exit_77(self):
        self.assertTrue(logic.rpmostree_pending_exit_77([dep("s", staged=True), dep("b", booted=True)]))
        self.assertTrue(logic.rpmostree_pending_exit_77([dep("r"), dep("b", booted=True)]))
        self.assertFalse(logic.rpmostree_pending_exit_77([dep("b", booted=True), dep("r")]))
        self.assertFalse(logic.rpmostree_pending_exit_77([dep("b", booted=True)]))

    def test_mutation_source(self):
        self.assertEqual(logic.rpmostree_mutation_source([dep("s", staged=True), dep("b", booted=True)])["key"], "s")
        self.assertEqual(logic.rpmostree_mutation_source([dep("b", booted=True), dep("r")])["key"], "b")


REF = {"image": "localhost/bootpath/testbed:v1", "transport": "registry"}
IMG = {"image": {"image": REF}}  # a boot entry with an image


class BootcStatusTest(unittest.TestCase):
    """bootc v1.16.9 crates/lib/src/status.rs get_status()."""

    def test_partition_and_rollback_queued(self):
        parts = logic.bootc_partition([dep("s", staged=True), dep("b", booted=True), dep("r"), dep("o"),
                                       dep("x", osname="other")])
        self.assertEqual((parts["staged"]["key"], parts["rollback"]["key"]), ("s", "r"))
        self.assertEqual(keys(parts["other"]), ["o", "x"])
        self.assertFalse(parts["rollbackQueued"])
        parts = logic.bootc_partition([dep("r"), dep("b", booted=True)])
        self.assertTrue(parts["rollbackQueued"])

    def test_spec(self):
        self.assertEqual(logic.bootc_spec(None, IMG, True), {"image": REF, "bootOrder": "rollback"})
        self.assertEqual(logic.bootc_spec(None, IMG, False)["bootOrder"], "default")
        # incompatible booted entry (image null): HostSpec::default(), whatever the order
        self.assertEqual(logic.bootc_spec(None, {"image": None}, True), {"image": None, "bootOrder": "default"})
        # the staged entry wins, even when it has no image
        self.assertEqual(logic.bootc_spec({"image": None}, IMG, False), {"image": None, "bootOrder": "default"})

    def test_bootc_rollback(self):
        # deploy::rollback
        ds = [dep("s", staged=True), dep("b", booted=True), dep("r"), dep("o")]
        parts = logic.bootc_partition(ds)
        new, reverting = logic.bootc_rollback(parts, {"bootOrder": "default"}, IMG)
        self.assertEqual((keys(new), reverting), (["r", "b", "o"], False))  # staged discarded
        parts = logic.bootc_partition([dep("r"), dep("b", booted=True)])
        new, reverting = logic.bootc_rollback(parts, {"bootOrder": "rollback"}, IMG)
        self.assertEqual((keys(new), reverting), (["b", "r"], True))
        with self.assertRaisesRegex(ToolError, "Rollback is not container image based$"):
            logic.bootc_rollback(logic.bootc_partition([dep("b", booted=True), dep("r")]), {"bootOrder": "default"},
                                 {"image": None})
        with self.assertRaisesRegex(ToolError, "No rollback available$"):
            logic.bootc_rollback(logic.bootc_partition([dep("b", booted=True)]), {"bootOrder": "default"}, None)

    def test_cached_update_roundtrip(self):
        img = {"digest": "sha256:abc", "version": "9.6.20250201.0", "created": "2025-02-01T00:00:00Z"}
        st = logic.cached_update_status(REF, logic.cached_update_meta(img))
        self.assertEqual(st, {"image": REF, "version": "9.6.20250201.0", "timestamp": "2025-02-01T00:00:00Z",
                              "imageDigest": "sha256:abc", "architecture": "amd64"})
        # parse_cached_update: detached metadata without the key is no cached update
        self.assertIsNone(logic.cached_update_status(REF, {"other": "x"}))


def entry(image, digest, version=None, timestamp=None, pinned=False, cached=None, arch="arm64"):
    ref = {"image": image, "transport": "registry"}
    return {"image": {"image": ref, "version": version, "timestamp": timestamp, "imageDigest": digest, "architecture": arch},
            "cachedUpdate": cached, "incompatible": False, "pinned": pinned, "softRebootCapable": False,
            "downloadOnly": False, "ostree": {"stateroot": "default", "checksum": "c" * 64, "deploySerial": 0}}


def host_doc(staged=None, booted=None, rollback=None, other=()):
    st = {"staged": staged, "booted": booted, "rollback": rollback}
    if other:
        st["otherDeployments"] = list(other)
    return {"status": st}


C9 = "quay.io/centos-bootc/centos-bootc:stream9"
D47 = "sha256:47e5ed613a970b6574bfa954ab25bb6e85656552899aa518b5961d9645102b38"


class BootcHumanTest(unittest.TestCase):
    """from: bootc v1.16.9 crates/lib/src/status.rs tests (fixtures restated as documents)."""

    def test_human_readable_booted_with_cached_update(self):
        cached = {"image": None, "version": "stream9.20240901.0", "timestamp": "2024-09-01T12:00:00Z",
                  "imageDigest": "sha256:" + "a0" * 32, "architecture": "arm64"}
        doc = host_doc(booted=entry(C9, D47, "stream9.20240807.0", "2024-08-07T12:00:00Z", cached=cached))
        self.assertEqual(logic.bootc_human(doc) + "\n",
                         "\u25cf Booted image: quay.io/centos-bootc/centos-bootc:stream9\n"
                         "        Digest: " + D47 + " (arm64)\n"
                         "       Version: stream9.20240807.0 (2024-08-07T12:00:00Z)\n"
                         " UpdateVersion: stream9.20240901.0 (2024-09-01T12:00:00Z)\n"
                         "  UpdateDigest: sha256:" + "a0" * 32 + "\n")

    def test_human_readable_cached_update_same_digest_hidden(self):
        cached = {"image": None, "version": "x", "timestamp": None, "imageDigest": D47, "architecture": "arm64"}
        w = logic.bootc_human(host_doc(booted=entry(C9, D47, "stream9.20240807.0", cached=cached)))
        self.assertNotIn("UpdateVersion:", w)
        self.assertNotIn("UpdateDigest:", w)

    def test_human_readable_cached_update_no_version(self):
        cached = {"image": None, "version": None, "timestamp": None, "imageDigest": "sha256:" + "b1" * 32, "architecture": "arm64"}
        w = logic.bootc_human(host_doc(booted=entry(C9, D47, "stream9.20240807.0", cached=cached)))
        self.assertEqual(w.split("\n")[3:], ["        Update: Available", "  UpdateDigest: sha256:" + "b1" * 32])

    def test_human_readable_booted_pinned_spec(self):
        d37 = D47[:-2] + "37"
        doc = host_doc(booted=entry(C9, D47, "stream9.20240807.0", pinned=True),
                       other=[entry(C9, d37, "stream9.20240807.0", pinned=True)])
        self.assertEqual(logic.bootc_human(doc) + "\n",
                         "\u25cf Booted image: " + C9 + "\n"
                         "        Digest: " + D47 + " (arm64)\n"
                         "       Version: stream9.20240807.0\n"
                         "        Pinned: yes\n"
                         "\n"
                         "   Other image: " + C9 + "\n"
                         "        Digest: " + d37 + " (arm64)\n"
                         "       Version: stream9.20240807.0\n"
                         "        Pinned: yes\n")

    def test_human_readable_staged_rollback_spec(self):
        self.assertEqual(logic.bootc_human(host_doc(staged=entry(C9, D47))), "System is not deployed via bootc.")

    def test_human_readable_verbose_spec(self):
        w = logic.bootc_human(host_doc(staged=entry(C9, D47), booted=entry(C9, D47)), verbose=True)
        for field in ("StateRoot:", "Deploy serial:", "Staged:", "Commit:", "Soft-reboot:", "Download-only: no"):
            self.assertIn(field, w)

    def test_ostree_entry_uses_byte_length(self):
        e = entry(C9, D47)
        e["image"] = None
        w = logic.bootc_human(host_doc(booted=e))
        # "\u25cf Booted ostree" is 17 bytes (the glyph is 3): the row names are right-aligned to 17
        self.assertEqual(w.split("\n"), ["\u25cf Booted ostree", " " * 11 + "Commit: " + "c" * 64])


class OriginTest(unittest.TestCase):

    def test_rpmostree_origin(self):
        # treefile_to_origin_inner: packages sorted (BTreeSet), group omitted when empty
        self.assertEqual(logic.rpmostree_origin_text("ostree-unverified-registry:i", ["tree", "strace", "tree"]),
                         "[origin]\ncontainer-image-reference=ostree-unverified-registry:i\n\n[packages]\nrequested=strace;tree;\n")
        self.assertEqual(logic.rpmostree_origin_text("ostree-unverified-registry:i", []),
                         "[origin]\ncontainer-image-reference=ostree-unverified-registry:i\n")

    def test_bootc_origin_and_incompatibility(self):
        self.assertEqual(logic.bootc_origin_text("ostree-unverified-registry:i"),
                         "[origin]\ncontainer-image-reference=ostree-unverified-registry:i\n")
        self.assertTrue(logic.origin_has_rpmostree_stuff(["origin", "packages"]))
        self.assertTrue(logic.origin_has_rpmostree_stuff(["origin", "overrides"]))
        self.assertFalse(logic.origin_has_rpmostree_stuff(["origin"]))

    def test_package_edit(self):
        self.assertEqual(logic.package_edit(["tree"], ["strace"], []), ["strace", "tree"])
        with self.assertRaisesRegex(ToolError, "^Package/capability 'tree' is already requested$"):
            logic.package_edit(["tree"], ["tree"], [])
        with self.assertRaisesRegex(ToolError, "^Package/capability 'x' is not currently requested$"):
            logic.package_edit([], [], ["x"])
        self.assertEqual(logic.package_edit(["tree"], ["tree"], ["x"], idempotent=True), ["tree"])


class OutputFormatTest(unittest.TestCase):

    def test_glib_json(self):
        self.assertEqual(logic.glib_json({"a": [], "b": {}, "c": [1]}), '{\n  "a" : [ ],\n  "b" : { },\n  "c" : [\n    1\n  ]\n}')

    def test_canonical_json(self):
        self.assertEqual(logic.canonical_json({"b": 1, "a": {"d": None, "c": "é"}}), '{"a":{"c":"é","d":null},"b":1}')

    def test_yaml(self):
        self.assertEqual(logic.yaml_dump({"a": {"b": None, "c": "yes"}, "d": [{"e": 1}], "f": []}),
                         "a:\n  b: null\n  c: 'yes'\nd:\n- e: 1\nf: []")


if __name__ == "__main__":
    unittest.main()
