#!/bin/bash
# mmdebstrap --customize-hook: runs on the host with $1 = rootfs (proc/sys/dev bind-mounted by
# mmdebstrap) and $2 = images/testbed. Configuration that belongs to the base OS, before it is
# turned into an OSTree commit in stage 20.
set -euo pipefail
R=$1
SRC=$2
source "$SRC/build/lib.sh"
KVER=$(ls "$R/usr/lib/modules")

# --- initramfs with the ostree dracut module -------------------------------------------------
# ostree-prepare-root.service must run in the initrd. A small generic initrd (only the modules that
# systemd + ostree-prepare-root need, only virtio storage drivers; ext4 is built into the cloud
# kernel) is 11 MB and unpacks fast under TCG; a full --no-hostonly one costs seconds per boot.
chroot "$R" dracut --force --no-hostonly --reproducible --compress zstd \
  -m "base systemd systemd-initrd dracut-systemd udev-rules rootfs-block fs-lib shutdown ostree" \
  --drivers "virtio_blk virtio_pci virtio_scsi sd_mod" \
  --kver "$KVER" "/usr/lib/modules/$KVER/initramfs.img"
# (not `lsinitrd | grep -q`: with pipefail, grep's early exit fails the pipeline via SIGPIPE)
INITRD_FILES=$(chroot "$R" lsinitrd "/usr/lib/modules/$KVER/initramfs.img")
grep -q ostree-prepare-root <<<"$INITRD_FILES" \
  || { echo "customize: the ostree dracut module is missing from the initramfs" >&2; exit 1; }

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
# Like Fedora CoreOS: members of wheel get passwordless sudo; Ignition puts `core` into wheel.
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
