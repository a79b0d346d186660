/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* systemd's file-descriptor store for the agent's service (FileDescriptorStoreMax= in
 * runner-agent.service): the descriptors of every running step — the agent's end of runner-step's
 * control socket, the shim's pidfd, the entry's pidfd — are kept there under a name, so that the next
 * agent gets them back after a crash, a Restart= or a systemctl restart (systemd keeps the store
 * across those, and drops it when the service is stopped). No PID is ever looked up again. */

/* The name a step's descriptor is stored under: r<RUN>.j<J>.s<S>.<what>. */
#define FDSTORE_NAME_MAX 96
void fdstore_step_name(char buf[static FDSTORE_NAME_MAX], unsigned long long run, unsigned job,
        unsigned step, const char *what);

/* Hands a copy of fd to systemd under name. */
int fdstore_put(const char *name, int fd);
/* Closes systemd's copies stored under name. */
int fdstore_remove(const char *name);

/* What the previous agent left in the store, as passed to this one at start ($LISTEN_FDS). */
typedef struct FdStore {
        char **names;
        int *fds; /* -EBADF once taken */
        size_t n;
} FdStore;

int fdstore_load(FdStore *ret);
/* The descriptor stored under name (now the caller's), or -ENOENT. */
int fdstore_take(FdStore *s, const char *name);
/* Closes what nobody took, and removes it from systemd's store: descriptors of steps that ended. */
void fdstore_done(FdStore *s);
