/* A flood of logged calls from inside a container: getppid CALLS times, spread evenly over
 * SECONDS (in 1,000 steps: bursts small enough for the kernel log's ring), so the flood spans several --dedup windows and other containers can
 * act while it lasts. Static, so it runs in an image of its own with nothing else in it. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: flood CALLS SECONDS\n");
        return 2;
    }
    long calls = atol(argv[1]);
    double seconds = atof(argv[2]);
    const int steps = 1000;
    long long step_ns = (long long)(seconds * 1e9 / steps);
    struct timespec pause = {.tv_sec = step_ns / 1000000000LL, .tv_nsec = step_ns % 1000000000LL};
    for (int step = 0; step < steps; step++) {
        long from = calls * step / steps, to = calls * (step + 1) / steps;
        for (long i = from; i < to; i++) {
            /* The raw call: libc may not cache getppid, but it keeps the count exact. */
            syscall(SYS_getppid);
        }
        if (step + 1 < steps) {
            nanosleep(&pause, NULL);
        }
    }
    return 0;
}
