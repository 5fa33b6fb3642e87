#!/bin/bash
# Stage 20: rootfs tarball -> OSTree layout -> one commit per testbed image -> deployed sysroot.
#   in:  TESTBED_SRC, ROOTFS_TAR (stage 10), WORK (scratch dir), STATEROOT, KARGS (initial cmdline),
#        IMAGES_TSV (written by builder.ts, one image per line:
#          tag  imgref  ostree-ref  overlay-dir  parent-tag|-  version  epoch  digest)
#        REGISTRY_JSON (the image registry the guest-side tools read; embedded into every image)
#   out: $WORK/sysroot (physical root: /ostree repo + deployment, /boot with the ostree loader files)
# No mounts and no chroot: everything is ostree CLI work on directories.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_env TESTBED_SRC ROOTFS_TAR WORK STATEROOT KARGS IMAGES_TSV REGISTRY_JSON
SYSROOT=$WORK/sysroot
R=$WORK/tree
VARSEED=$WORK/var-seed
rm_sysroot "$SYSROOT"; rm -rf "$R" "$VARSEED"; mkdir -p "$R"
tar -C "$R" --numeric-owner -xpf "$ROOTFS_TAR"
KVER=$(ls "$R/usr/lib/modules")

# --- guest-side files (stand-ins, Ignition, sshd policy) -----------------------------------------
# (owned by root whoever owns the checkout)
cp -a --no-preserve=ownership "$TESTBED_SRC/guest/." "$R/"
chmod 0755 "$R/usr/bin/rpm-ostree" "$R/usr/bin/bootc" "$R/usr/libexec/ssh-key-dir" "$R/usr/lib/bootpath-testbed/"*.py
chmod 0440 "$R"/etc/sudoers.d/*
install -m 0644 "$REGISTRY_JSON" "$R/usr/share/bootpath-testbed/images.json"
mkdir -p "$R/etc/systemd/system/basic.target.wants"
ln -sfn /usr/lib/systemd/system/bootpath-ignition-firstboot-complete.service \
  "$R/etc/systemd/system/basic.target.wants/bootpath-ignition-firstboot-complete.service"
# the bootc-shaped image's initrd (built in stage 10) is not part of any image's tree
BOOTC_INITRD=$WORK/initramfs-bootc.img
mv "$R/usr/lib/bootpath-testbed-build/initramfs-bootc.img" "$BOOTC_INITRD"
rmdir "$R/usr/lib/bootpath-testbed-build"
# Bytecode that stays valid after an OSTree checkout (every file's mtime becomes 0): without it the
# guest recompiles every Python module it imports on every stand-in call (seconds under TCG).
python3 "$(dirname "$0")/pyc-for-ostree.py" "$R" /usr/lib/bootpath-testbed

# --- boot time under TCG -----------------------------------------------------------------------
# Every unit costs seconds when emulated, and a testbed guest lives for one scenario: mask what it
# never needs (periodic maintenance, binfmt, an unused VGA getty, debug filesystems) and skip fsck of
# freshly built filesystems. Nothing here touches what bootpath observes (ostree, sshd, networking).
# (Masking more — module loaders, static nodes, utmp, pstore, random seed, sysusers — was tried and
# gave no gain that stood out from run-to-run variation on a shared TCG host, so it was not kept.)
for unit in e2scrub_reap.service e2scrub_all.timer fstrim.timer apt-daily.timer apt-daily-upgrade.timer \
            dpkg-db-backup.timer man-db.timer systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
            getty@tty1.service dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
            modprobe@drm.service modprobe@efi_pstore.service modprobe@fuse.service; do
  ln -sfn /dev/null "$R/etc/systemd/system/$unit"
done
# systemd runs every generator at switch-root (and again on each daemon-reload); each is ~0.2 s of
# emulated CPU (measured one by one in a running guest). Mask those for features a testbed guest
# has no use for: encrypted/integrity/verity volumes, GPT auto-mounts, hibernation, SysV scripts,
# rc.local, offline updates. fstab, getty, debug and ostree's own generator stay.
mkdir -p "$R/etc/systemd/system-generators"
for gen in systemd-cryptsetup-generator systemd-integritysetup-generator systemd-veritysetup-generator \
           systemd-gpt-auto-generator systemd-hibernate-resume-generator systemd-sysv-generator \
           systemd-rc-local-generator systemd-system-update-generator; do
  [ -e "$R/usr/lib/systemd/system-generators/$gen" ] || { echo "no generator $gen to mask" >&2; exit 1; }
  ln -sfn /dev/null "$R/etc/systemd/system-generators/$gen"
done
sed -i -E 's/^(LABEL=(root|boot)\s+\S+\s+\S+\s+\S+\s+0)\s+[12]$/\1 0/' "$R/etc/fstab"
grep -q 'LABEL=boot.* 0 0$' "$R/etc/fstab" || { echo "fstab: could not turn off fsck" >&2; exit 1; }

# --- OSTree layout ---------------------------------------------------------------------------
# kernel + initramfs live in /usr/lib/modules/$KVER (ostree copies them to /boot on deploy)
mv "$R/boot/vmlinuz-$KVER" "$R/usr/lib/modules/$KVER/vmlinuz"
rm -rf "$R"/boot/* "$R"/vmlinuz* "$R"/initrd.img*
rm -rf "$R"/dev/* "$R"/run/* "$R"/tmp/* "$R"/proc/* "$R"/sys/* 2>/dev/null || true
mv "$R/etc" "$R/usr/etc"
# /var is per-stateroot and shared by all deployments: move it out and seed it after deploy
mv "$R/var" "$VARSEED"; mkdir "$R/var"
rm -rf "$VARSEED"/cache/apt/archives/*.deb "$VARSEED"/lib/apt/lists/* "$VARSEED"/log/*
mv "$R/root" "$VARSEED/roothome"
for d in home opt srv mnt; do mv "$R/$d" "$VARSEED/$d"; ln -s "var/$d" "$R/$d"; done
ln -s var/roothome "$R/root"
rm -rf "$R/media"; ln -s run/media "$R/media"
mkdir -p "$R/sysroot"; ln -s sysroot/ostree "$R/ostree"

# --- sysroot, repo, image commits ------------------------------------------------------------------
mkdir -p "$SYSROOT"
ostree admin init-fs "$SYSROOT"
ostree admin os-init "$STATEROOT" --sysroot="$SYSROOT"
REPO=$SYSROOT/ostree/repo
ostree --repo="$REPO" config set sysroot.bootloader syslinux
# commit metadata modelled on what an ostree-container import records (manifest digest, version)
# What makes a tree FCOS-shaped rather than bootc-shaped: the login arrangement FCOS/RHCOS ship
# (ssh-key-dir with its sshd drop-in, the sudo group file; Ignition in the initrd and its first-boot
# unit). A bootc-shaped image carries none of it, like the centos-bootc/rhel-bootc images.
COREOS_ONLY=(usr/etc/ssh/sshd_config.d/40-ssh-key-dir.conf usr/libexec/ssh-key-dir usr/etc/sudoers.d/coreos-sudo-group
             usr/lib/systemd/system/bootpath-ignition-firstboot-complete.service
             usr/etc/systemd/system/basic.target.wants/bootpath-ignition-firstboot-complete.service)
to_bootc_shape() {
  local tree=$1 f
  for f in "${COREOS_ONLY[@]}"; do
    [ -e "$tree/$f" ] || [ -L "$tree/$f" ] || { echo "stage 20: $f is not in the tree to reshape" >&2; exit 1; }
    rm -f "$tree/$f"
  done
  cp "$BOOTC_INITRD" "$tree/usr/lib/modules/$KVER/initramfs.img"
}
while IFS=$'\t' read -r tag imgref oref overlay parent version epoch digest shape; do
  [ -n "$tag" ] || continue
  trees=()
  if [ "$parent" = - ]; then
    # the first image is the rootfs itself with its overlay applied
    [ "$shape" = coreos ] || { echo "stage 20: the first image must be coreos-shaped" >&2; exit 1; }
    cp -a --no-preserve=ownership "$TESTBED_SRC/images/$overlay/." "$R/"
    trees=(--tree=dir="$R")
  elif [ "$shape" = bootc ]; then
    # a change of shape removes files, which a layered commit cannot: check the parent out (a copy,
    # not hardlinks into the repo), reshape it, apply the overlay, commit the whole tree
    rm -rf "$WORK/reshaped"
    ostree --repo="$REPO" checkout --force-copy "$(awk -F'\t' -v t="$parent" '$1==t{print $3}' "$IMAGES_TSV")" "$WORK/reshaped"
    to_bootc_shape "$WORK/reshaped"
    cp -a --no-preserve=ownership "$TESTBED_SRC/images/$overlay/." "$WORK/reshaped/"
    trees=(--tree=dir="$WORK/reshaped")
  else
    # derived image: parent commit + overlay directory (copied first so that its files are owned by
    # root whoever owns the checkout; --owner-uid would also rewrite the parent's files)
    rm -rf "$WORK/overlay"; cp -a --no-preserve=ownership "$TESTBED_SRC/images/$overlay" "$WORK/overlay"
    trees=(--tree=ref="$(awk -F'\t' -v t="$parent" '$1==t{print $3}' "$IMAGES_TSV")" --tree=dir="$WORK/overlay")
  fi
  ostree --repo="$REPO" commit --branch="$oref" "${trees[@]}" --no-xattrs --bootable \
    --timestamp="@$epoch" --subject="$imgref" \
    --add-metadata-string=version="$version" \
    --add-metadata-string=ostree.manifest-digest="$digest" \
    --add-metadata-string=bootpath.image="$imgref" >/dev/null
  echo "committed $imgref ($shape) -> $oref $(ostree --repo="$REPO" rev-parse "$oref")"
done < "$IMAGES_TSV"
rm -rf "$WORK/reshaped"
rm -rf "$WORK/overlay"

# --- bootstrap ostree's syslinux backend (GRUB reads its syslinux.cfg in stage 30) -------------------
# The backend refuses to deploy unless boot/syslinux/syslinux.cfg exists and is readable. Header lines
# (everything that is not an ostree LABEL block) are kept by ostree on every later deploy.
B=$SYSROOT/boot
mkdir -p "$B/loader.0" "$B/syslinux"
ln -sfn loader.0 "$B/loader"
printf 'SERIAL 0 115200\nPROMPT 0\nTIMEOUT 1\n' > "$B/loader.0/syslinux.cfg"
ln -sfn ../loader/syslinux.cfg "$B/syslinux/syslinux.cfg"

# --- deploy the first image with a container-image origin, like a bootc-installed host --------------
read -r _ FIRST_IMGREF FIRST_OREF _ < <(head -n1 "$IMAGES_TSV")
printf '[origin]\ncontainer-image-reference=ostree-unverified-registry:%s\n' "$FIRST_IMGREF" > "$WORK/origin"
KARGOPTS=(); for k in $KARGS; do KARGOPTS+=("--karg-append=$k"); done
ostree admin deploy --sysroot="$SYSROOT" --os="$STATEROOT" --origin-file="$WORK/origin" --karg-none "${KARGOPTS[@]}" "$FIRST_OREF"
# seed the stateroot /var (shared by all deployments); no keys, no users: Ignition provides them
cp -a "$VARSEED"/. "$SYSROOT/ostree/deploy/$STATEROOT/var/"
mkdir -p "$SYSROOT/ostree/deploy/$STATEROOT/var/home"
ostree admin status --sysroot="$SYSROOT"
ostree --repo="$REPO" refs
rm -rf "$R" "$VARSEED" "$BOOTC_INITRD"
