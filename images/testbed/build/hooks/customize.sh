#!/bin/bash
# mmdebstrap --customize-hook: runs on the host with $1 = rootfs (proc/sys/dev bind-mounted by
# mmdebstrap) and $2 = images/testbed. Configuration that belongs to the base OS, before it is
# turned into an OSTree commit in stage 20.
set -euo pipefail
R=$1
SRC=$2
source "$SRC/build/lib.sh"
KVER=$(ls "$R/usr/lib/modules")

# --- initramfs: ostree, and the real Ignition the way Fedora CoreOS runs it ---------------------
# ostree-prepare-root.service must run in the initrd. A small generic initrd (only the modules that
# systemd + ostree-prepare-root need, only virtio storage drivers; ext4 is built into the cloud
# kernel) is about 11 MB and unpacks fast under TCG; a full --no-hostonly one costs seconds per boot.
# Debian's `ignition` package is coreos/ignition 2.14 with its upstream dracut module (30ignition).
# That module declares `url-lib network` for configs fetched over the network; bootpath hands the
# config over QEMU fw_cfg only (platform qemu, fetch-offline stage), and Debian ships those two
# modules in dracut-network, which would start networking in every initrd. So the dependency is
# dropped here, and a remote config source would fail in the testbed (a documented difference).
sed -i -E 's/^( *echo qemu systemd) url-lib network$/\1/' "$R/usr/lib/dracut/modules.d/30ignition/module-setup.sh"
grep -qE '^ *echo qemu systemd$' "$R/usr/lib/dracut/modules.d/30ignition/module-setup.sh" \
  || { echo "customize: unexpected depends() in Ignition's dracut module" >&2; exit 1; }
cp -a --no-preserve=ownership "$SRC/build/hooks/dracut/." "$R/usr/lib/dracut/modules.d/"
DRACUT_BASE="base systemd systemd-initrd dracut-systemd udev-rules rootfs-block fs-lib shutdown ostree"
DRIVERS="virtio_blk virtio_pci virtio_scsi sd_mod"
# FCOS-shaped images (v1, v2): Ignition runs on first boot, from fw_cfg (qemu_fw_cfg driver).
chroot "$R" dracut --force --no-hostonly --reproducible --compress zstd \
  -m "$DRACUT_BASE qemu ignition bootpath-ignition-ostree" --drivers "$DRIVERS qemu_fw_cfg" \
  --kver "$KVER" "/usr/lib/modules/$KVER/initramfs.img"
# bootc-shaped image (next): no Ignition in its initrd. Kept aside; stage 20 puts it into that
# image's tree and removes it from the others.
mkdir -p "$R/usr/lib/bootpath-testbed-build"
chroot "$R" dracut --force --no-hostonly --reproducible --compress zstd \
  -m "$DRACUT_BASE" --drivers "$DRIVERS" \
  --kver "$KVER" "/usr/lib/bootpath-testbed-build/initramfs-bootc.img"
# (not `lsinitrd | grep -q`: with pipefail, grep's early exit fails the pipeline via SIGPIPE)
INITRD_FILES=$(chroot "$R" lsinitrd "/usr/lib/modules/$KVER/initramfs.img")
for f in ostree-prepare-root usr/bin/ignition ignition-files.service usr/lib/ignition/base.d/10-core-user.ign \
         bootpath-ignition-ostree-mount-var.service usr/sbin/useradd usr/sbin/setfiles bootpath-ignition-selinux-shim.service qemu_fw_cfg; do
  grep -q "$f" <<<"$INITRD_FILES" || { echo "customize: $f is missing from the initramfs" >&2; exit 1; }
done
INITRD_FILES=$(chroot "$R" lsinitrd "/usr/lib/bootpath-testbed-build/initramfs-bootc.img")
grep -q ostree-prepare-root <<<"$INITRD_FILES" || { echo "customize: the bootc initramfs lacks ostree" >&2; exit 1; }
if grep -q usr/bin/ignition <<<"$INITRD_FILES"; then echo "customize: the bootc initramfs carries Ignition" >&2; exit 1; fi

# --- base system configuration ---------------------------------------------------------------
echo testbed > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 testbed\n::1 localhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
cat > "$R/etc/fstab" <<'EOT'
LABEL=root  /      ext4  defaults  0 1
LABEL=boot  /boot  auto  defaults  0 2
EOT
mkdir -p "$R/etc/systemd/network"
cat > "$R/etc/systemd/network/20-wired.network" <<'EOT'
[Match]
Name=en* eth*
[Network]
DHCP=yes
EOT
chroot "$R" systemctl enable systemd-networkd.service
# Like Fedora CoreOS: `core` is in wheel and sudo (Ignition's base config in the initrd says so);
# the sudo group gets passwordless sudo (guest/etc/sudoers.d/coreos-sudo-group).
chroot "$R" groupadd --system wheel
# No password for root (locked), no users, no keys: everything arrives through Ignition.
chroot "$R" passwd --lock root >/dev/null
# Host keys are never baked into the image: Ignition injects them or ssh.service generates the
# missing ones on first boot (drop-in shipped in guest/).
rm -f "$R"/etc/ssh/ssh_host_*
# machine-id must be generated per machine on first boot.
: > "$R/etc/machine-id"

# --- package pool for `rpm-ostree install` -----------------------------------------------------
# For each pool package: the package plus every dependency that is not already installed in this
# base rootfs (apt's simulation against the chroot's dpkg status computes exactly that set).
POOL=$R/usr/share/bootpath-testbed/pool
mkdir -p "$POOL"
: > "$POOL/index"
ALL=()
for p in $(read_list "$SRC/inputs/pool-packages.txt"); do
  deps=$(chroot "$R" apt-get -s -q install --no-install-recommends "$p" | awk '/^Inst /{print $2}' | sort -u | paste -sd' ' -)
  [ -n "$deps" ] || { echo "customize: pool package $p resolves to nothing (already in the base?)" >&2; exit 1; }
  echo "$p: $deps" >> "$POOL/index"
  # shellcheck disable=SC2206
  ALL+=($deps)
done
chroot "$R" apt-get install -q -y --download-only --no-install-recommends "${ALL[@]}" >/dev/null
for n in $(printf '%s\n' "${ALL[@]}" | sort -u); do
  f=$(ls "$R"/var/cache/apt/archives/"${n}"_*.deb | head -n1)
  cp "$f" "$POOL/"
done
echo "pool:"; cat "$POOL/index"; ls -la "$POOL"
