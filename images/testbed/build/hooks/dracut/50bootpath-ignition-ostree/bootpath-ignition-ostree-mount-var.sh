#!/bin/bash
# Bind-mounts the stateroot's /var onto /sysroot/var for Ignition's files stage and unmounts it
# before the switch root. Follows ignition-ostree-mount-var.sh of coreos/fedora-coreos-config
# (overlay.d/05core/usr/lib/dracut/modules.d/40ignition-ostree, commit e9fd7e7816).
set -euo pipefail
fatal() { echo "$@" >&2; exit 1; }
[ $# -eq 1 ] && { [ "$1" = mount ] || [ "$1" = umount ]; } || fatal "Usage: $0 <mount|umount>"
MARK=/tmp/bootpath-ignition-ostree-mount-var-mounted

ostree_arg() {
    local arg
    for arg in $(cat /proc/cmdline); do
        case $arg in ostree=*) echo "${arg#ostree=}" ;; esac
    done
}

do_mount() {
    local ostree deployment var
    ostree=$(ostree_arg)
    [ -n "$ostree" ] || fatal "No ostree= kernel argument in /proc/cmdline"
    deployment=/sysroot/$ostree
    [ -L "$deployment" ] || fatal "$deployment is not a symlink"
    var=$(realpath "$deployment/../../var")
    [ -d "$var" ] || fatal "$var is not a directory"
    rm -f "$MARK"
    if findmnt /sysroot/var >/dev/null; then
        echo "/sysroot/var already mounted"
    else
        echo "Mounting $var"
        mount --bind "$var" /sysroot/var
        : > "$MARK"
    fi
}

do_umount() {
    if [ -f "$MARK" ]; then
        echo "Unmounting /sysroot/var"
        umount /sysroot/var
    else
        echo "Leaving /sysroot/var intact"
    fi
}

"do_$1"
