#!/bin/sh
# Prepared device check (see README "KVM on a lent machine"): facts about /dev/kvm and nested
# virtualization, then bootpath's KVM probe sector run twice through kvm-run.
set -u
D=$(dirname "$0")
echo "== host"; uname -a; nproc
echo "== /dev/kvm"; ls -l /dev/kvm 2>&1
for m in kvm_intel kvm_amd; do [ -d /sys/module/$m ] && echo "$m nested: $(cat /sys/module/$m/parameters/nested 2>/dev/null)"; done
grep -m1 -o -w -E 'vmx|svm' /proc/cpuinfo || echo "no vmx/svm flag in /proc/cpuinfo"
echo "== qemu"; command -v qemu-system-x86_64 || echo "no qemu-system-x86_64 here"
for i in 1 2; do echo "== probe run $i"; "$D/kvm-run" "$D/probe.bin" 10; echo "exit $?"; done
