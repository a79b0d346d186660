/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Calls AddAction() with a tar runnerctl would never make, as another client could, for
 * test-action-store.sh: prints the D-Bus error ("NAME: message") or the names stored.
 *
 *   add-action-fd sealed|unsealed NAME TARFILE
 *
 * The tar is copied into a memfd, sealed or not. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        const char *name;
        char buf[65536];
        int fd, in, r;
        ssize_t n;

        if (argc != 4)
                return 2;
        in = open(argv[3], O_RDONLY | O_CLOEXEC);
        fd = memfd_create("tar", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (in < 0 || fd < 0)
                return 2;
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(fd, buf, (size_t) n) != n)
                        return 2;
        if (n < 0)
                return 2;
        if (strcmp(argv[1], "sealed") == 0 &&
                fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return 2;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return 2;
        r = sd_bus_call_method(bus, "io.runneragent.Agent1", "/io/runneragent/Agent1",
                "io.runneragent.Agent1", "AddAction", &error, &reply, "sssh", argv[2], "", "add-action-fd",
                fd);
        if (r < 0) {
                printf("%s: %s\n", error.name ?: "?", error.message ?: strerror(-r));
                return 1;
        }
        if (sd_bus_message_enter_container(reply, 'a', "s") < 0)
                return 2;
        while (sd_bus_message_read(reply, "s", &name) > 0)
                printf("%s\n", name);
        return 0;
}
