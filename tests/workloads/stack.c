/*
 * Makes one call its seccomp profile kills, from a function with a distinctive name, through
 * libc's syscall() wrapper: the frame a user stack must name. glibc's wrapper keeps no frame
 * of its own, so a frame-pointer walk skips its caller; the stack test checks that tracer does
 * not. Built twice by the tests crate's build script: dynamically linked and static.
 */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) long tracer_stack_culprit(void)
{
	long ret = syscall(SYS_unshare, 0);
	/* Work after the call: a tail call would leave no frame of this function at all. */
	__asm__ volatile("" ::: "memory");
	return ret;
}

int main(void)
{
	printf("unshare returned %ld\n", tracer_stack_culprit());
	return 0;
}
