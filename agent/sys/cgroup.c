/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "cgroup-parse.h"
#include "cgroup.h"
#include "fileio.h"

/* A mountinfo of containers-heavy hosts easily has thousands of lines; cgroup files are tiny. */
#define MOUNTINFO_MAX (16U * 1024U * 1024U)
#define CGROUP_FILE_MAX (1U * 1024U * 1024U)
#define KILL_BY_FREEZING_PASSES 64

int cgroup_get_root(char **ret_path) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_full_file_at(AT_FDCWD, "/proc/self/mountinfo", MOUNTINFO_MAX, &text);
        if (r < 0)
                return r;
        return mountinfo_find_cgroup2(text, ret_path);
}

int cgroup_pidref_get_path(const PidRef *pidref, char **ret_path) {
        _cleanup_free_ char *text = NULL, *path = NULL;
        int r;

        r = pidref_read_proc(pidref, "cgroup", CGROUP_FILE_MAX, &text);
        if (r < 0)
                return r;
        r = proc_cgroup_find_unified(text, &path);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

int cgroup_open(const char *root, const char *path) {
        _cleanup_free_ char *full = NULL;
        int fd;

        if (!root || !path || path[0] != '/')
                return -EINVAL;
        if (asprintf(&full, "%s%s", root, path) < 0)
                return -ENOMEM;

        fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fd;
}

/* Removed (an open directory fd outlives its cgroup): nothing lives in it and nothing can be written. */
static bool cgroup_is_gone(int cgroup_fd) {
        return faccessat(cgroup_fd, "cgroup.events", F_OK, 0) < 0 && IN_SET(errno, ENOENT, ENODEV);
}

int cgroup_is_populated(int cgroup_fd, bool *ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_full_file_at(cgroup_fd, "cgroup.events", CGROUP_FILE_MAX, &text);
        if (r < 0)
                return r;
        return cgroup_events_parse_populated(text, ret);
}

/* Calls fn for each cgroup directly below the cgroup, with its directory opened. */
static int cgroup_foreach_child(
        int cgroup_fd, int (*fn)(int child_fd, const char *name, void *userdata), void *userdata) {
        _cleanup_close_ int dup_fd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        dup_fd = openat(cgroup_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dup_fd < 0)
                return -errno;
        d = fdopendir(dup_fd);
        if (!d)
                return -errno;
        TAKE_FD(dup_fd);

        while ((de = readdir(d))) {
                _cleanup_close_ int child = -EBADF;

                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                child = openat(cgroup_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (child < 0) {
                        if (errno == ENOENT) /* removed while we looked */
                                continue;
                        r = -errno;
                        break;
                }
                r = fn(child, de->d_name, userdata);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

typedef struct ForeachPid {
        int (*fn)(pid_t pid, void *userdata);
        void *userdata;
        unsigned depth;
} ForeachPid;

static int cgroup_foreach_pid(
        int cgroup_fd, int (*fn)(pid_t pid, void *userdata), void *userdata, unsigned depth);

static int foreach_pid_child(int child_fd, const char *name _unused_, void *userdata) {
        ForeachPid *f = userdata;

        return cgroup_foreach_pid(child_fd, f->fn, f->userdata, f->depth + 1);
}

/* Calls fn for each PID in cgroup.procs of the cgroup and of every cgroup below it. */
static int cgroup_foreach_pid(
        int cgroup_fd, int (*fn)(pid_t pid, void *userdata), void *userdata, unsigned depth) {
        _cleanup_free_ char *text = NULL;
        int r;

        /* cgroup2 limits nesting itself; this only protects our stack from a pathological tree. */
        if (depth > 256)
                return -ELOOP;

        r = read_full_file_at(cgroup_fd, "cgroup.procs", CGROUP_FILE_MAX, &text);
        if (r < 0)
                return r;

        for (char *p = text, *end; *p != '\0'; p = end) {
                long long v;

                v = strtoll(p, &end, 10);
                if (end == p)
                        return -EBADMSG;
                while (*end == '\n')
                        end++;
                if (v <= 0 || v > INT32_MAX)
                        return -EBADMSG;
                r = fn((pid_t) v, userdata);
                if (r < 0)
                        return r;
        }

        return cgroup_foreach_child(cgroup_fd, foreach_pid_child, &(ForeachPid){ fn, userdata, depth });
}

static int count_one(pid_t pid _unused_, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

int cgroup_count_processes(int cgroup_fd, unsigned *ret) {
        unsigned n = 0;
        int r;

        r = cgroup_foreach_pid(cgroup_fd, count_one, &n, 0);
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}

typedef struct PidList {
        pid_t *pids;
        size_t n, allocated;
} PidList;

static int list_one(pid_t pid, void *userdata) {
        PidList *l = userdata;

        if (array_grow((void **) &l->pids, &l->allocated, l->n + 1, sizeof(pid_t)) < 0)
                return -ENOMEM;
        l->pids[l->n++] = pid;
        return 0;
}

int cgroup_list_processes(int cgroup_fd, pid_t **ret, size_t *ret_n) {
        PidList l = {};
        int r;

        r = cgroup_foreach_pid(cgroup_fd, list_one, &l, 0);
        if (r < 0) {
                free(l.pids);
                return r;
        }
        *ret = l.pids;
        *ret_n = l.n;
        return 0;
}

int cgroup_kill(int cgroup_fd) {
        int r;

        r = write_string_file_at(cgroup_fd, "cgroup.kill", "1");
        if (r == -ENOENT || r == -EOPNOTSUPP)
                return cgroup_kill_by_freezing(cgroup_fd);
        return r;
}

typedef struct KillPass {
        PidRef *killed; /* everyone signalled so far, across passes */
        size_t n_killed;
        unsigned n_new; /* signalled in this pass */
} KillPass;

static int kill_one(pid_t pid, void *userdata) {
        KillPass *k = userdata;
        PidRef p = PIDREF_NULL, *a;
        int r;

        /* Already signalled and still the same living process (its pidfd says it has not exited, so
         * the PID was not recycled): it is dying, not new. */
        for (size_t i = 0; i < k->n_killed; i++)
                if (k->killed[i].pid == pid && pidref_verify(&k->killed[i]) == 0)
                        return 0;

        /* A frozen process cannot exit, so its PID cannot be recycled between reading cgroup.procs
         * and opening the pidfd; -ESRCH means it was already gone. */
        r = pidref_set_pid(&p, pid);
        if (r == -ESRCH)
                return 0;
        if (r < 0)
                return r;
        r = pidref_kill(&p, SIGKILL);
        if (r < 0 && r != -ESRCH) {
                pidref_done(&p);
                return r;
        }

        a = reallocarray(k->killed, k->n_killed + 1, sizeof(PidRef));
        if (!a) {
                pidref_done(&p);
                return -ENOMEM;
        }
        k->killed = a;
        k->killed[k->n_killed++] = p;
        k->n_new++;
        return 0;
}

int cgroup_kill_by_freezing(int cgroup_fd) {
        KillPass k = {};
        int r = -EBUSY, q;

        /* Each pass freezes the subtree, signals every process not signalled before and thaws. A
         * pass that finds nobody new ends it: whatever forked while an earlier freeze was landing has
         * been found by then. Killed processes may still be listed until they have exited. */
        for (unsigned pass = 0; pass < KILL_BY_FREEZING_PASSES; pass++) {
                r = write_string_file_at(cgroup_fd, "cgroup.freeze", "1");
                if (r < 0)
                        break;

                k.n_new = 0;
                r = cgroup_foreach_pid(cgroup_fd, kill_one, &k, 0);

                /* Thaw on every path: a cgroup left frozen would keep its processes forever. */
                q = write_string_file_at(cgroup_fd, "cgroup.freeze", "0");
                if (r >= 0)
                        r = q;
                if (r < 0)
                        break;
                if (k.n_new == 0)
                        break;
                r = -EBUSY;
        }

        for (size_t i = 0; i < k.n_killed; i++)
                pidref_done(&k.killed[i]);
        free(k.killed);
        return r < 0 ? r : 0;
}

/* How the watch learns that a cgroup is empty, and what sd-event asks of it:
 *
 *  - cgroup.events changes. The kernel sends at most one change of a cgroup's cgroup.events every 20 ms
 *    and holds back the rest until then; removing the cgroup drops what it held back. A cgroup emptied
 *    shortly after it was filled and removed at once (systemd removes an empty scope as soon as it
 *    knows, which it may learn from a reaped process first) thus never says "populated 0".
 *  - So the parent directory is watched too: a removal through the same cgroup2 mount (systemd's and
 *    ours) shows there, and a removed cgroup's cgroup.events fails to read (ENODEV): empty.
 *  - libsystemd without the fix of v258 (Debian 12's 252, for one) loops forever on an inotify event
 *    that no enabled source of the same inode wants. No inotify source is therefore ever left
 *    disabled: once empty, both are freed, and the caller holds a defer source that then runs the
 *    handler. */
typedef struct EmptyWatch {
        int cgroup_fd;
        int events_fd;
        cgroup_empty_handler_t handler;
        void *userdata;
        bool fired;
        sd_event_source *source;        /* the caller's (a defer, off until empty); not a reference */
        sd_event_source *events_source; /* inotify on cgroup.events */
        sd_event_source *parent_source; /* inotify on the parent directory, for removals */
        /* cgroup_kill_staged(): the leaves killed first, and the grace for the rest. */
        const char *leaf;
        uint64_t grace_usec;
        sd_event_source *grace_source;
        bool leaves_seen_empty;
} EmptyWatch;

static void empty_watch_stop(EmptyWatch *w) {
        w->events_source = sd_event_source_disable_unref(w->events_source);
        w->parent_source = sd_event_source_disable_unref(w->parent_source);
        w->grace_source = sd_event_source_disable_unref(w->grace_source);
}

static void empty_watch_free(void *userdata) {
        EmptyWatch *w = userdata;

        if (!w)
                return;
        empty_watch_stop(w);
        safe_close(w->cgroup_fd);
        safe_close(w->events_fd);
        free(w);
}

static int empty_watch_check(EmptyWatch *w, bool *ret_empty) {
        char buf[256];
        ssize_t k;
        bool populated;
        int r;

        k = pread(w->events_fd, buf, sizeof(buf) - 1, 0);
        if (k < 0) {
                if (errno == ENODEV || errno == ENOENT) { /* cgroup removed: nothing can live in it */
                        *ret_empty = true;
                        return 0;
                }
                return -errno;
        }
        buf[k] = '\0';

        r = cgroup_events_parse_populated(buf, &populated);
        if (r < 0)
                return r;
        *ret_empty = !populated;
        return 0;
}

/* Empty: stop watching (also from inside the watches' own callbacks) and let the loop run the handler. */
static void empty_watch_fire(EmptyWatch *w) {
        if (w->fired)
                return;
        w->fired = true;
        empty_watch_stop(w);
        (void) sd_event_source_set_enabled(w->source, SD_EVENT_ONESHOT);
}

static int on_empty_dispatch(sd_event_source *s, void *userdata) {
        EmptyWatch *w = userdata;

        if (w->handler)
                w->handler(s, w->userdata);
        return 0;
}

static int on_events_changed(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        EmptyWatch *w = userdata;
        bool empty = false;
        int r;

        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_UNMOUNT))
                empty = true;
        else {
                r = empty_watch_check(w, &empty);
                if (r < 0)
                        /* Removal was handled above; any other failure to read says nothing about
                         * the processes, so wait for the next change rather than claim "empty". */
                        return 0;
        }

        if (empty)
                empty_watch_fire(w);
        return 0;
}

/* Something below the parent was removed, perhaps this cgroup. */
static int on_parent_changed(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        EmptyWatch *w = userdata;
        bool empty = false;

        if (empty_watch_check(w, &empty) >= 0 && empty)
                empty_watch_fire(w);
        return 0;
}

int cgroup_watch_empty(sd_event *e, int cgroup_fd, cgroup_empty_handler_t handler, void *userdata,
        sd_event_source **ret_source) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *s = NULL;
        _cleanup_close_ int parent_fd = -EBADF;
        EmptyWatch *w;
        bool empty;
        int r;

        if (!e || cgroup_fd < 0 || !ret_source)
                return -EINVAL;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (EmptyWatch){
                .cgroup_fd = -EBADF, .events_fd = -EBADF, .handler = handler, .userdata = userdata
        };
        r = sd_event_add_defer(e, &s, on_empty_dispatch, w);
        if (r < 0) {
                empty_watch_free(w);
                return r;
        }
        r = sd_event_source_set_destroy_callback(s, empty_watch_free);
        if (r < 0) {
                empty_watch_free(w);
                return r;
        }
        w->source = s;
        r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r < 0)
                return r;

        w->cgroup_fd = fcntl(cgroup_fd, F_DUPFD_CLOEXEC, 3);
        if (w->cgroup_fd < 0)
                return -errno;
        w->events_fd = openat(cgroup_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
        if (w->events_fd < 0) {
                if (errno != ENOENT && errno != ENODEV)
                        return -errno;
                empty_watch_fire(w); /* removed already */
                *ret_source = TAKE_PTR(s);
                return 0;
        }

        /* Watch first, then look: a change between the two is caught by the watch. */
        r = sd_event_add_inotify_fd(
                e, &w->events_source, w->events_fd, IN_MODIFY | IN_DELETE_SELF, on_events_changed, w);
        if (r < 0)
                return r;
        parent_fd = openat(cgroup_fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0 && errno != ENOENT && errno != ENODEV)
                return -errno;
        if (parent_fd >= 0) { /* else removed already, which the look below sees */
                r = sd_event_add_inotify_fd(
                        e, &w->parent_source, parent_fd, IN_DELETE, on_parent_changed, w);
                if (r < 0)
                        return r;
        }

        r = empty_watch_check(w, &empty);
        if (r < 0)
                return r;
        if (empty)
                empty_watch_fire(w);
        *ret_source = TAKE_PTR(s);
        return 0;
}

typedef struct LeafWalk {
        const char *leaf;
        unsigned depth;
        unsigned n_found;
        bool populated; /* LEAF_CHECK: one of them still has a process */
        enum { LEAF_KILL, LEAF_CHECK } action;
} LeafWalk;

static int leaf_walk(int child_fd, const char *name, void *userdata) {
        LeafWalk *l = userdata;
        bool populated;
        int r;

        if (!streq(name, l->leaf)) {
                /* A run's slice, a job's slice, a step's scope: not deeper than that in practice. */
                if (l->depth >= 8)
                        return 0;
                l->depth++;
                r = cgroup_foreach_child(child_fd, leaf_walk, l);
                l->depth--;
                return r;
        }
        l->n_found++;
        if (l->action == LEAF_KILL)
                return cgroup_kill(child_fd);
        r = cgroup_is_populated(child_fd, &populated);
        if (r < 0)
                return r == -ENOENT || r == -ENODEV ? 0 : r;
        l->populated = l->populated || populated;
        return 0;
}

/* Every grace_usec: the rest is killed once the leaves were seen empty at two checks in a row, so that
 * it had at least grace_usec (and at most twice that) since the last of their processes was gone. */
static int on_grace_check(sd_event_source *s, uint64_t usec, void *userdata) {
        EmptyWatch *w = userdata;
        LeafWalk l = { .leaf = w->leaf, .action = LEAF_CHECK };
        int r;

        r = cgroup_foreach_child(w->cgroup_fd, leaf_walk, &l);
        if (r >= 0 && (l.populated || !w->leaves_seen_empty)) {
                w->leaves_seen_empty = !l.populated;
                r = sd_event_source_set_time_relative(s, w->grace_usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                if (r >= 0)
                        return 0;
        }
        (void) cgroup_kill(w->cgroup_fd);
        return 0;
}

int cgroup_kill_staged(sd_event *e, int cgroup_fd, const char *leaf, uint64_t grace_usec,
        cgroup_empty_handler_t handler, void *userdata, sd_event_source **ret_source) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *s = NULL;
        LeafWalk l = { .leaf = leaf, .action = LEAF_KILL };
        EmptyWatch *w;
        int r;

        if (!e || cgroup_fd < 0 || !leaf || !ret_source)
                return -EINVAL;

        r = cgroup_foreach_child(cgroup_fd, leaf_walk, &l);
        if (r < 0 || l.n_found == 0) {
                /* No leaf to kill first (a shim still held, say), or one could not be killed: the
                 * kill must not wait for anything, whatever a grace would have saved. */
                r = cgroup_kill(cgroup_fd);
                if (r < 0 && !cgroup_is_gone(cgroup_fd))
                        return r;
                return cgroup_watch_empty(e, cgroup_fd, handler, userdata, ret_source);
        }

        r = cgroup_watch_empty(e, cgroup_fd, handler, userdata, &s);
        if (r < 0) {
                (void) cgroup_kill(cgroup_fd);
                return r;
        }
        w = sd_event_source_get_userdata(s);
        if (w->fired) { /* empty already: nothing to give a grace */
                *ret_source = TAKE_PTR(s);
                return 0;
        }
        w->leaf = leaf;
        w->grace_usec = grace_usec;
        r = sd_event_add_time_relative(
                e, &w->grace_source, CLOCK_MONOTONIC, grace_usec, 0, on_grace_check, w);
        if (r < 0) {
                (void) cgroup_kill(cgroup_fd);
                return r;
        }
        *ret_source = TAKE_PTR(s);
        return 0;
}
