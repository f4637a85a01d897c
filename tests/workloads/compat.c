/* Makes i386 system calls from an x86-64 program, through `int $0x80`, as 32-bit code in a
 * container would: the profile recorded from it must allow them by their i386 names. Exits 0
 * only when every call returned what its native twin returns. */
#include <stdio.h>
#include <unistd.h>

/* i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
enum { I386_GETPID = 20, I386_GETUID32 = 199, I386_GETGID32 = 200 };

static long i386_call0(long nr)
{
	long ret;
	/* The kernel clobbers r8-r11 on return from `int $0x80` (before 4.17 it zeroed them). */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr) : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static int check(const char *name, long nr, long expected)
{
	long got = i386_call0(nr);
	if (got == expected)
		return 0;
	fprintf(stderr, "i386 %s returned %ld, expected %ld\n", name, got, expected);
	return 1;
}

int main(void)
{
	int failed = check("getpid", I386_GETPID, getpid()) +
		     check("getuid32", I386_GETUID32, getuid()) +
		     check("getgid32", I386_GETGID32, getgid());
	if (failed)
		return 1;
	puts("i386 calls returned");
	return 0;
}
