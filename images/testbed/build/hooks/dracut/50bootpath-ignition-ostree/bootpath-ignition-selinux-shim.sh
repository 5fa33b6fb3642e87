#!/bin/bash
# Debian builds Ignition 2.14 with SELinux relabelling on: its files stage reads SELINUXTYPE from
# /sysroot/etc/selinux/config and fails when the file is missing. The testbed has no SELinux, and
# the file must not stay in the deployment either: libostree (ostree-sysroot-deploy.c,
# sysroot_finalize_selinux_policy) runs semodule through bwrap for every deployment whose /etc has
# it, and the testbed has neither. So the file exists only while Ignition's files stage runs.
set -euo pipefail
CONFIG=/sysroot/etc/selinux/config
MARK=/tmp/bootpath-ignition-selinux-shim
case ${1:-} in
  create)
    if [ -e "$CONFIG" ]; then echo "$CONFIG exists; leaving it"; exit 0; fi
    [ -d /sysroot/etc/selinux ] && : > "$MARK.file" || { mkdir /sysroot/etc/selinux; : > "$MARK.dir"; }
    printf 'SELINUX=disabled\nSELINUXTYPE=targeted\n' > "$CONFIG"
    ;;
  remove)
    if [ -f "$MARK.dir" ]; then rm -rf /sysroot/etc/selinux; elif [ -f "$MARK.file" ]; then rm -f "$CONFIG"; fi
    rm -f "$MARK.dir" "$MARK.file"
    ;;
  *) echo "Usage: $0 <create|remove>" >&2; exit 1 ;;
esac
