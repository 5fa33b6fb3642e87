# bootpath KVM probe boot sector. Assemble: as --32 kvmprobe.S -o p.o && ld -m elf_i386 -Ttext=0x7c00 --oformat=binary p.o -o p.bin
.code16
.globl _start
_start:
  cli
  xor %ax,%ax
  mov %ax,%ds
  mov %ax,%es
  mov %ax,%ss
  mov $0x7c00,%sp
  cld
  mov $msg1,%si
  call puts16
  in $0x92,%al              # fast A20
  or $2,%al
  out %al,$0x92
  lgdtl gdtr
  mov %cr0,%eax
  or $1,%eax
  mov %eax,%cr0
  ljmpl $0x08,$pm32
puts16:
  mov $0x3f8,%dx
1: lodsb
  test %al,%al
  jz 2f
  out %al,(%dx)
  jmp 1b
2: ret
.code32
pm32:
  mov $0x10,%ax
  mov %ax,%ds
  mov %ax,%es
  mov %ax,%ss
  mov $msg2,%esi
  call puts32
  mov $0x1000,%edi          # PML4 0x1000, PDPT 0x2000, PD 0x3000: identity map 1 GiB in 2 MiB pages
  xor %eax,%eax
  mov $0xC00,%ecx
  rep stosl
  movl $0x2003,0x1000
  movl $0x3003,0x2000
  mov $0x3000,%edi
  mov $0x83,%eax
  mov $512,%ecx
3: mov %eax,(%edi)
  add $0x200000,%eax
  add $8,%edi
  loop 3b
  mov $0x1000,%eax
  mov %eax,%cr3
  mov %cr4,%eax
  or $0x20,%eax             # PAE
  mov %eax,%cr4
  mov $0xC0000080,%ecx      # EFER.LME
  rdmsr
  or $0x100,%eax
  wrmsr
  mov %cr0,%eax
  or $0x80000000,%eax       # paging on: long mode
  mov %eax,%cr0
  ljmp $0x18,$lm64
puts32:
  mov $0x3f8,%dx
1: lodsb
  test %al,%al
  jz 2f
  out %al,(%dx)
  jmp 1b
2: ret
.code64
lm64:
  mov $msg3,%esi
  call puts32
  mov $0x200000,%rdi        # workload: fill 32 MiB, then 50M loop iterations (~0.3 s under TCG, ms under KVM)
  mov $0x400000,%rcx
  xor %rax,%rax
  rep stosq
  mov $50000000,%rcx
4: dec %rcx
  jnz 4b
  mov $msg4,%esi
  call puts32
5: hlt
  jmp 5b
.align 8
gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF
  .quad 0x00CF92000000FFFF
  .quad 0x00AF9A000000FFFF
gdtr:
  .word 31
  .long gdt
msg1: .asciz "BOOTPATH-KVM-PROBE real-mode\n"
msg2: .asciz "BOOTPATH-KVM-PROBE protected-mode\n"
msg3: .asciz "BOOTPATH-KVM-PROBE long-mode\n"
msg4: .asciz "BOOTPATH-KVM-OK\n"
.org 510
.byte 0x55, 0xAA
