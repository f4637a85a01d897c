/* An arm32 (EABI) program for arm64 kernels, as 32-bit code in a container on an arm64 node:
 * its calls are audited with arch=40000028 and arm32 numbers. The arm64 workload installs the
 * filter and execs this program, so the logged call is its getppid, number 64, which is write
 * in arm64's table: a tracer that named it from the arm64 table would say write. Exits 0 when
 * the call returned the parent's pid, as getppid must. */
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

/* arch/arm/tools/syscall.tbl */
enum { ARM_GETPPID = 64 };

int main(void)
{
	long parent = syscall(ARM_GETPPID);
	if (parent <= 0) {
		fprintf(stderr, "arm32 getppid returned %ld\n", parent);
		return 1;
	}
	return 0;
}
