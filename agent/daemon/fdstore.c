/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "alloc-util.h"
#include "fdstore.h"
#include "macro.h"

void fdstore_step_name(char buf[static FDSTORE_NAME_MAX], unsigned long long run, unsigned job,
        unsigned step, const char *what) {
        snprintf(buf, FDSTORE_NAME_MAX, "r%llu.j%u.s%u.%s", run, job, step, what);
}

int fdstore_put(const char *name, int fd) {
        char msg[STRLEN("FDSTORE=1\nFDNAME=") + FDSTORE_NAME_MAX];

        if (fd < 0)
                return -EBADF;
        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
        return sd_pid_notify_with_fds(0, false, msg, &fd, 1);
}

int fdstore_remove(const char *name) {
        char msg[STRLEN("FDSTOREREMOVE=1\nFDNAME=") + FDSTORE_NAME_MAX];

        snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
        return sd_notify(false, msg);
}

int fdstore_load(FdStore *ret) {
        char **names = NULL;
        int n;

        *ret = (FdStore){};
        n = sd_listen_fds_with_names(true, &names);
        if (n <= 0) {
                strv_free(names);
                return n;
        }
        ret->fds = calloc((size_t) n, sizeof(int));
        if (!ret->fds) {
                for (int i = 0; i < n; i++)
                        safe_close(SD_LISTEN_FDS_START + i);
                strv_free(names);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++)
                ret->fds[i] = SD_LISTEN_FDS_START + i;
        ret->names = names;
        ret->n = (size_t) n;
        return n;
}

int fdstore_take(FdStore *s, const char *name) {
        for (size_t i = 0; i < s->n; i++)
                if (s->fds[i] >= 0 && s->names && s->names[i] && streq(s->names[i], name))
                        return TAKE_FD(s->fds[i]);
        return -ENOENT;
}

void fdstore_done(FdStore *s) {
        for (size_t i = 0; i < s->n; i++)
                if (s->fds[i] >= 0) {
                        s->fds[i] = safe_close(s->fds[i]);
                        if (s->names && s->names[i])
                                (void) fdstore_remove(s->names[i]);
                }
        free(s->fds);
        strv_free(s->names);
        *s = (FdStore){};
}
