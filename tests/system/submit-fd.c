/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Calls SubmitWithOptions() with a source descriptor of the kind asked for, as a client other than
 * runnerctl could, for test-source.sh: prints the D-Bus error ("NAME: message") or the run id.
 *
 *   submit-fd pipe|opath|wronly|file|unsealed WORKFLOW.yml
 *
 * pipe: the read end of a pipe whose write end this program keeps open while it waits for the answer
 * (an agent that read it would block for ever); opath: an O_PATH descriptor of the workflow file;
 * wronly: the workflow file opened for writing only; file: the workflow file opened for reading, a
 * regular file as one on FUSE would be (whose server could leave a reader waiting for ever); unsealed:
 * a memfd that its sender could still change. Only a sealed memfd is taken. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus = NULL;
        char yaml[65536];
        int fd = -1, pipefd[2], in, r;
        ssize_t n;
        uint64_t id;

        if (argc != 3)
                return 2;
        in = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (in < 0 || (n = read(in, yaml, sizeof(yaml) - 1)) < 0)
                return 2;
        yaml[n] = '\0';
        if (strcmp(argv[1], "pipe") == 0) {
                if (pipe2(pipefd, O_CLOEXEC) < 0)
                        return 2;
                fd = pipefd[0];
        } else if (strcmp(argv[1], "opath") == 0)
                fd = open(argv[2], O_PATH | O_CLOEXEC);
        else if (strcmp(argv[1], "wronly") == 0)
                fd = open(argv[2], O_WRONLY | O_CLOEXEC);
        else if (strcmp(argv[1], "file") == 0)
                fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        else if (strcmp(argv[1], "unsealed") == 0) {
                fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (fd >= 0 && write(fd, yaml, (size_t) n) != n)
                        return 2;
        }
        if (fd < 0)
                return 2;

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &m, "io.runneragent.Agent1",
                        "/io/runneragent/Agent1", "io.runneragent.Agent1", "SubmitWithOptions");
        if (r >= 0)
                r = sd_bus_message_append(m, "ssa{ss}a{sv}", argv[2], yaml, 0, 2, "source", "h", fd,
                        "source_format", "s", "tar");
        if (r < 0) {
                fprintf(stderr, "submit-fd: %s\n", strerror(-r));
                return 2;
        }
        /* 20 s: far less than the bus's default 25 s, far more than an answer takes. */
        r = sd_bus_call(bus, m, 20 * 1000 * 1000, &error, &reply);
        if (r < 0) {
                printf("%s: %s\n", error.name ?: "?", error.message ?: strerror(-r));
                return 1;
        }
        if (sd_bus_message_read(reply, "t", &id) < 0)
                return 2;
        printf("%" PRIu64 "\n", id);
        return 0;
}
