/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The benchmark's entry process: as soon as it runs, writes {id, CLOCK_MONOTONIC ns} to the fd in
 * argv[1]. Tiny and static-free on purpose, so that what is timed is how it got started. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct timespec ts;
        uint64_t rec[2];

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (argc < 3)
                return 2;
        rec[0] = strtoull(argv[2], NULL, 10);
        rec[1] = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
        return write(atoi(argv[1]), rec, sizeof(rec)) == sizeof(rec) ? 0 : 1;
}
