#!/bin/bash
# Stage 30: assemble the bootable disk from $WORK/sysroot, without mounting anything.
#   in:  WORK (with sysroot/ from stage 20), BOOT_MB, ROOT_MB
#   out: DISK_QCOW2 (compressed qcow2; MBR: p1 /boot ext4 "boot", p2 physical root ext4 "root")
# Boot chain: BIOS -> GRUB i386-pc (boot.img in the MBR + core.img in the post-MBR gap) -> grub.cfg
# -> `syslinux_source /syslinux/syslinux.cfg`, the file ostree's syslinux backend keeps current
# (its first LABEL is always the default deployment). No grub-install, no loop device.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_env WORK BOOT_MB ROOT_MB DISK_QCOW2
SYSROOT=$WORK/sysroot
BOOTDIR=$WORK/bootdir
RAW=$WORK/disk.raw
rm -rf "$BOOTDIR"; rm -f "$WORK/boot.img" "$WORK/root.img" "$RAW" "$DISK_QCOW2"
# /boot is its own partition: ostree's syslinux paths assume it (they resolve via its boot -> . link)
mv "$SYSROOT/boot" "$BOOTDIR"; mkdir "$SYSROOT/boot"
G=/usr/lib/grub/i386-pc
mkdir -p "$BOOTDIR/grub/i386-pc"
cp "$G"/*.mod "$G"/*.lst "$BOOTDIR/grub/i386-pc/"
cat > "$BOOTDIR/grub/grub.cfg" <<'EOT'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
# First boot, the way Fedora CoreOS's grub.cfg does it: while /ignition.firstboot exists on the boot
# partition, the `$ignition_firstboot` in every entry's kernel arguments expands to
# `ignition.firstboot` and Ignition runs in the initrd; bootpath-ignition-firstboot-complete.service
# removes the file once the system is up.
set ignition_firstboot=""
if [ -f /ignition.firstboot ]; then set ignition_firstboot="ignition.firstboot"; fi
export ignition_firstboot
# ostree (sysroot.bootloader=syslinux) keeps /syslinux/syslinux.cfg -> ../loader/syslinux.cfg current;
# its first LABEL is the default deployment. `syslinux_source` adds its entries to this menu, so the
# timeout below wins over the one GRUB derives from the file's TIMEOUT (syslinux_configfile would
# open a new menu that draws itself over the serial line and counts down a second on every boot).
syslinux_source /syslinux/syslinux.cfg
set timeout=0
EOT
touch "$BOOTDIR/ignition.firstboot"
mkfs.ext4 -q -F -L boot -d "$BOOTDIR" "$WORK/boot.img" "${BOOT_MB}M"
# mkfs -d keeps the hardlinks between repo objects and the deployment checkout
mkfs.ext4 -q -F -L root -d "$SYSROOT" "$WORK/root.img" "${ROOT_MB}M"
truncate -s $(( (1 + BOOT_MB + ROOT_MB) * 1024 * 1024 )) "$RAW"
S1=2048; N1=$((BOOT_MB*2048)); S2=$((S1+N1)); N2=$((ROOT_MB*2048))
printf 'label: dos\nstart=%d, size=%d, type=83, bootable\nstart=%d, size=%d, type=83\n' $S1 $N1 $S2 $N2 | sfdisk -q "$RAW"
dd if="$WORK/boot.img" of="$RAW" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root.img" of="$RAW" bs=1M seek=$((1+BOOT_MB)) conv=notrunc,sparse status=none
# boot.img (first 440 bytes, keeping the partition table) + core.img at sector 1: boot.img's
# kernel_sector defaults to 1 and core.img's first blocklist to sector 2 (length filled in by
# grub-mkimage), so no grub-bios-setup (which wants a real block device) is needed.
grub-mkimage -O i386-pc -o "$WORK/core.img" -p '(hd0,msdos1)/grub' biosdisk part_msdos ext2
[ "$(stat -c %s "$WORK/core.img")" -lt $((2047*512)) ] || { echo "stage 30: GRUB core.img does not fit before the first partition" >&2; exit 1; }
dd if="$G/boot.img" of="$RAW" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/core.img" of="$RAW" bs=512 seek=1 conv=notrunc status=none
rm -f "$WORK/core.img" "$WORK/boot.img" "$WORK/root.img"
# restore the sysroot's /boot so that stage 30 can be rerun on the same work dir
rmdir "$SYSROOT/boot"; rm -rf "$BOOTDIR/grub" "$BOOTDIR/ignition.firstboot"; mv "$BOOTDIR" "$SYSROOT/boot"
# zstd: compresses about as well as zlib in a fraction of the time, and reads faster in the guest
qemu-img convert -c -O qcow2 -o compression_type=zstd "$RAW" "$DISK_QCOW2.part"
rm -f "$RAW"
mv "$DISK_QCOW2.part" "$DISK_QCOW2"
qemu-img info "$DISK_QCOW2"
