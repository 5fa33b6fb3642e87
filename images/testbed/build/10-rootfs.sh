#!/bin/bash
# Stage 10: build the plain Debian 12 rootfs with mmdebstrap and write it as a tarball.
#   in:  TESTBED_SRC (images/testbed), APT_CACHE (persistent .deb cache), MIRROR (apt sources file)
#   out: ROOTFS_TAR (the rootfs: packages, dracut initrd with the ostree module, base config, and the
#        package pool under /usr/share/bootpath-testbed/pool)
# The customize hook (hooks/customize.sh) does the in-chroot configuration.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_env TESTBED_SRC APT_CACHE MIRROR ROOTFS_TAR
mkdir -p "$APT_CACHE"
PKGS=$(read_list "$TESTBED_SRC/inputs/base-packages.txt" | paste -sd, -)
rm -f "$ROOTFS_TAR"
# - The host's own apt sources file is the mirror argument: the build reaches whatever mirror this
#   machine is configured (and allowed) to use; nothing is hard-coded.
# - sync-in/sync-out keep the downloaded .debs in APT_CACHE, so rebuilds do not download again.
# - The kernel's postinst would run a full default dracut (about 20 s, output thrown away): divert
#   its hook away (to a no-op: dracut's own trigger calls it by path) before the kernel is installed;
#   the customize hook builds the initrd we want.
mmdebstrap --mode=root --variant=minbase --include="$PKGS" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
  --setup-hook="sync-in $APT_CACHE /var/cache/apt/archives/" \
  --essential-hook='mkdir -p "$1"/etc/kernel/postinst.d && chroot "$1" dpkg-divert --quiet --local --rename --divert /etc/kernel/postinst.d/dracut.bootpath-disabled --add /etc/kernel/postinst.d/dracut && printf "#!/bin/sh\n# diverted by the bootpath testbed build: the initrd is built by its customize hook\nexit 0\n" > "$1"/etc/kernel/postinst.d/dracut && chmod 755 "$1"/etc/kernel/postinst.d/dracut' \
  --customize-hook="\"$TESTBED_SRC/build/hooks/customize.sh\" \"\$1\" \"$TESTBED_SRC\"" \
  --customize-hook="sync-out /var/cache/apt/archives $APT_CACHE" \
  --format=tar bookworm "${ROOTFS_TAR%.tar}.part.tar" "$MIRROR"
mv "${ROOTFS_TAR%.tar}.part.tar" "$ROOTFS_TAR"
ls -la "$ROOTFS_TAR"
