/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The benchmark's entry process: as soon as it runs, takes CLOCK_MONOTONIC, then writes {id, ns} to
 * the FIFO named by argv[1] (by name: runner-step hands a step no descriptor above stderr). Tiny on
 * purpose, so that what is timed is how it got started.
 *
 *   bench-stamp FIFO ID */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct timespec ts;
        uint64_t rec[2];
        int fd;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (argc < 3)
                return 2;
        rec[0] = strtoull(argv[2], NULL, 10);
        rec[1] = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
        fd = open(argv[1], O_WRONLY | O_CLOEXEC);
        return fd >= 0 && write(fd, rec, sizeof(rec)) == sizeof(rec) ? 0 : 1;
}
