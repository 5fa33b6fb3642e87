#!/usr/bin/python3
"""Make the tree's Python bytecode valid once it is checked out of OSTree.

OSTree checks out every file with mtime 0 (ostreedev/ostree#1469), but Debian's .pyc files record
the mtime of their source at package install time. Python then finds every .pyc stale and, /usr
being read-only on a deployment, recompiles each imported module from source on every run. Under
TCG that made each stand-in invocation ~3 s slower (the `gi` import alone). Image builders for
OSTree systems zero the recorded source mtime; this does the same, and compiles the testbed's own
modules, which are installed without bytecode.

usage: pyc-for-ostree.py TREE GUEST_DIR...   (GUEST_DIR: absolute guest paths of modules to compile)
"""
import glob
import importlib.util
import os
import py_compile
import sys

# PEP 552 header: magic(4) flags(4) then, for timestamp-based pycs (flags == 0), mtime(4) size(4).
FLAGS_TIMESTAMP = b"\0\0\0\0"


def zero_source_mtimes(tree: str) -> int:
    changed = 0
    for root, _dirs, files in os.walk(os.path.join(tree, "usr")):
        for name in files:
            if not name.endswith(".pyc"):
                continue
            with open(os.path.join(root, name), "r+b") as f:
                header = f.read(16)
                if len(header) < 16 or header[4:8] != FLAGS_TIMESTAMP or header[8:12] == b"\0\0\0\0":
                    continue
                f.seek(8)
                f.write(b"\0\0\0\0")
                changed += 1
    return changed


def tree_magic(tree: str) -> bytes | None:
    """The bytecode magic of the tree's Python (read from its stdlib's own os module)."""
    for pyc in sorted(glob.glob(os.path.join(tree, "usr/lib/python3*/__pycache__/os.cpython-*.pyc"))):
        with open(pyc, "rb") as f:
            return f.read(4)
    return None


def compile_modules(tree: str, guest_dir: str) -> int:
    count = 0
    for src in sorted(glob.glob(os.path.join(tree, guest_dir.lstrip("/"), "*.py"))):
        # dfile: tracebacks in the guest name the guest path, not the build directory
        dfile = os.path.join(guest_dir, os.path.basename(src))
        py_compile.compile(src, cfile=importlib.util.cache_from_source(src), dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        count += 1
    return count


def main() -> None:
    tree, guest_dirs = sys.argv[1], sys.argv[2:]
    compiled = 0
    if tree_magic(tree) == importlib.util.MAGIC_NUMBER:
        compiled = sum(compile_modules(tree, d) for d in guest_dirs)
    else:
        # Only speed is lost: the guest compiles these modules in memory on each run.
        print(f"pyc-for-ostree: host Python {sys.version.split()[0]} differs from the image's; "
              "testbed modules left without bytecode", file=sys.stderr)
    print(f"pyc-for-ostree: {compiled} module(s) compiled, {zero_source_mtimes(tree)} bytecode file(s) "
          "set to OSTree's source mtime 0")


if __name__ == "__main__":
    main()
