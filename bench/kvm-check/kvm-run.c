/*
 * kvm-run: run bootpath's KVM probe boot sector (vm/kvm-probe.S) directly on /dev/kvm, without
 * QEMU. It answers "does the KVM path work on this host?" on machines where QEMU is not installed
 * (e.g. a lent accelerator machine): it creates a VM and a vCPU, loads the 512-byte sector at
 * 0x7c00, and runs it through real mode → protected mode → long mode → a memory+CPU workload; the
 * sector reports each stage on COM1 (port 0x3f8), which this program prints.
 *
 *   cc -O2 -static -o kvm-run kvm-run.c && ./kvm-run probe.bin [timeout-seconds]
 * Exit 0 when BOOTPATH-KVM-OK was printed within the timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_alarm(int sig) { (void)sig; }

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s SECTOR [TIMEOUT]\n", argv[0]); return 2; }
  int timeout = argc > 2 ? atoi(argv[2]) : 10;
  double t0 = now();
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) { printf("open /dev/kvm: %s\n", strerror(errno)); return 3; }
  printf("KVM API version %d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) { printf("KVM_CREATE_VM: %s\n", strerror(errno)); return 3; }
  size_t memsz = 128u << 20;
  uint8_t *mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = memsz, .userspace_addr = (uint64_t)(uintptr_t)mem };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) { printf("KVM_SET_USER_MEMORY_REGION: %s\n", strerror(errno)); return 3; }
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(mem + 0x7c00, 1, 512, f) != 512) { printf("cannot read 512 bytes from %s\n", argv[1]); return 2; }
  fclose(f);
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) { printf("KVM_CREATE_VCPU: %s\n", strerror(errno)); return 3; }
  /* Long mode needs the LM CPUID bit in the guest's CPUID: give it what KVM supports. */
  struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid = { .c = { .nent = 256 } };
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0 || ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0) { printf("CPUID setup: %s\n", strerror(errno)); return 3; }
  int runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct kvm_sregs sregs;
  ioctl(vcpu, KVM_GET_SREGS, &sregs);
  sregs.cs.base = 0; sregs.cs.selector = 0;
  ioctl(vcpu, KVM_SET_SREGS, &sregs);
  struct kvm_regs regs = { .rip = 0x7c00, .rflags = 2 };
  ioctl(vcpu, KVM_SET_REGS, &regs);

  signal(SIGALRM, on_alarm);
  alarm(timeout);
  char out[4096]; size_t n = 0;
  double start = now();
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      printf("\nKVM_RUN: %s after %.3f s (timeout %d s)\n", strerror(errno), now() - start, timeout);
      break;
    }
    if (run->exit_reason == KVM_EXIT_IO) {
      uint8_t *data = (uint8_t *)run + run->io.data_offset;
      if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0x3f8) {
        for (uint32_t i = 0; i < run->io.count * run->io.size; i++) { putchar(data[i]); if (n < sizeof out - 1) out[n++] = (char)data[i]; }
        fflush(stdout);
      } else if (run->io.direction == KVM_EXIT_IO_IN) {
        memset(data, 0, run->io.size * run->io.count);
      }
      continue;
    }
    if (run->exit_reason == KVM_EXIT_HLT) { printf("\nguest halted after %.3f s\n", now() - start); break; }
    printf("\nunexpected exit reason %u after %.3f s\n", run->exit_reason, now() - start);
    break;
  }
  out[n] = 0;
  int ok = strstr(out, "BOOTPATH-KVM-OK") != NULL;
  printf("verdict: %s (setup %.3f s, run %.3f s)\n", ok ? "KVM works" : "KVM did not complete the probe", start - t0, now() - start);
  return ok ? 0 : 1;
}
