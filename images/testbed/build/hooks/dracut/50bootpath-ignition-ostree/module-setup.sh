#!/bin/bash
# dracut module: what Fedora CoreOS adds around the upstream Ignition module so that Ignition's
# files stage can write into an OSTree deployment (the ignition-ostree module of
# coreos/fedora-coreos-config, overlay.d/05core/usr/lib/dracut/modules.d/40ignition-ostree), reduced
# to the parts the testbed needs:
# - /sysroot/var is the stateroot's /var (ignition-ostree-mount-var.{service,sh}), so users' homes
#   and files under /var land where every deployment sees them;
# - a base config in /usr/lib/ignition/base.d declaring the image's `core` user, the way FCOS's image
#   defines `core` (there in /usr/lib/passwd; Debian has no nss-altfiles, so Ignition creates it);
# - an /etc/selinux/config during Ignition's files stage only, and a setfiles for its SELinux
#   relabelling step, which has nothing to label here.

check() {
    return 255
}

depends() {
    echo ignition ostree
}

install() {
    inst_script "$moddir/bootpath-ignition-ostree-mount-var.sh" /usr/sbin/bootpath-ignition-ostree-mount-var
    inst_multiple cat rm findmnt realpath mount umount
    inst_simple "$moddir/bootpath-ignition-ostree-mount-var.service" \
        "$systemdsystemunitdir/bootpath-ignition-ostree-mount-var.service"
    mkdir -p "$initdir/$systemdsystemunitdir/ignition-complete.target.requires"
    ln_r "../bootpath-ignition-ostree-mount-var.service" \
        "$systemdsystemunitdir/ignition-complete.target.requires/bootpath-ignition-ostree-mount-var.service"
    inst_simple "$moddir/10-core-user.ign" /usr/lib/ignition/base.d/10-core-user.ign
    # Ignition's files stage always relabels (Debian's build); see the shim's and the stand-in's headers
    inst_script "$moddir/setfiles" /usr/sbin/setfiles
    inst_script "$moddir/bootpath-ignition-selinux-shim.sh" /usr/sbin/bootpath-ignition-selinux-shim
    inst_multiple mkdir printf
    inst_simple "$moddir/bootpath-ignition-selinux-shim.service" \
        "$systemdsystemunitdir/bootpath-ignition-selinux-shim.service"
    ln_r "../bootpath-ignition-selinux-shim.service" \
        "$systemdsystemunitdir/ignition-complete.target.requires/bootpath-ignition-selinux-shim.service"
}
