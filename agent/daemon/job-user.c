/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A user per running job (README, "Steps are untrusted"), as systemd's DynamicUser= makes one per
 * unit: runner-<N> with UID and GID JOB_UID_MIN + N, taken when the job prepares its directories and
 * given back once its processes are gone and its files are out of reach. The user exists only while
 * it is taken: its records are userdb drop-ins in /run/userdb, which nss-systemd resolves (so `id`,
 * `whoami`, git and ssh find it). Which job has which user is not saved: after a restart it is the
 * owner of the job's private home, which only the agent creates. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "fs-util.h"
#include "job-user.h"
#include "log.h"
#include "manager-internal.h"

#define USERDB_DIR "/run/userdb"

static const char *userdb_dir(void) {
        return getenv("RUNNER_AGENT_USERDB_DIR") ?: USERDB_DIR;
}

/* NAME.user and NAME.group, and UID.user and GID.group linked to them: nss-systemd looks a record up by
 * either. Each replaced atomically: a running job's processes (a restarted agent writes its records
 * again) never miss their user. */
static int userdb_write(unsigned slot, uid_t uid, const char *home) {
        _cleanup_close_ int fd = -EBADF;
        char name[32], file[64], text[512];
        int r, n;

        if (mkdir(userdb_dir(), 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = open(userdb_dir(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        snprintf(name, sizeof(name), "runner-%u", slot);

        n = snprintf(text, sizeof(text),
                "{\"userName\":\"%s\",\"uid\":%u,\"gid\":%u,\"realName\":\"runner-agent job\","
                "\"homeDirectory\":\"%s\",\"shell\":\"/bin/bash\",\"disposition\":\"dynamic\"}\n",
                name, (unsigned) uid, (unsigned) uid, home);
        if (n < 0 || (size_t) n >= sizeof(text))
                return -ENAMETOOLONG;
        snprintf(file, sizeof(file), "%s.user", name);
        r = write_file_atomic_at(fd, file, text, (size_t) n, 0644);
        if (r < 0)
                return r;
        n = snprintf(text, sizeof(text), "{\"groupName\":\"%s\",\"gid\":%u,\"disposition\":\"dynamic\"}\n",
                name, (unsigned) uid);
        snprintf(file, sizeof(file), "%s.group", name);
        r = write_file_atomic_at(fd, file, text, (size_t) n, 0644);
        if (r < 0)
                return r;
        for (const char *kind = "user"; kind; kind = streq(kind, "user") ? "group" : NULL) {
                char link[64], tmp[80], target[64];

                snprintf(link, sizeof(link), "%u.%s", (unsigned) uid, kind);
                snprintf(tmp, sizeof(tmp), ".#%s", link);
                snprintf(target, sizeof(target), "%s.%s", name, kind);
                (void) unlinkat(fd, tmp, 0);
                if (symlinkat(target, fd, tmp) < 0 || renameat(fd, tmp, fd, link) < 0)
                        return -errno;
        }
        return 0;
}

static void userdb_remove(unsigned slot) {
        _cleanup_close_ int fd = open(userdb_dir(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        char file[64];

        if (fd < 0)
                return;
        for (const char *kind = "user"; kind; kind = streq(kind, "user") ? "group" : NULL) {
                snprintf(file, sizeof(file), "%u.%s", JOB_UID_MIN + slot, kind);
                (void) unlinkat(fd, file, 0);
                snprintf(file, sizeof(file), "runner-%u.%s", slot, kind);
                (void) unlinkat(fd, file, 0);
        }
}

/* The job's private home: <runtime>/r<RUN>/j<J>/private/home, its owner the job's user. */
static int job_private_dir(ManagedRun *mr, size_t job, char **ret) {
        *ret = strdupf(
                "%s/r%" PRIu64 "/j%u/private", mr->manager->runtime_dir, mr->id, mr->run->jobs[job].number);
        return *ret ? 0 : -ENOMEM;
}

static void take(Manager *m, JobCtx *jc, unsigned slot) {
        m->job_user_taken[slot] = true;
        jc->uid = JOB_UID_MIN + slot;
        snprintf(jc->user, sizeof(jc->user), "runner-%u", slot);
}

void job_user_recover(ManagedRun *mr, size_t job) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        _cleanup_free_ char *private = NULL, *home = NULL;
        struct stat st;
        unsigned slot;

        if (jc->uid != (uid_t) -1 || job_private_dir(mr, job, &private) < 0)
                return;
        home = strdupf("%s/home", private);
        if (!home || lstat(home, &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        if (st.st_uid < JOB_UID_MIN || st.st_uid >= JOB_UID_MIN + JOB_USERS)
                return;
        slot = st.st_uid - JOB_UID_MIN;
        if (m->job_user_taken[slot]) {
                log_warning("Run %" PRIu64
                            ", job %s: its user runner-%u is another job's too; it gets a new one.",
                        mr->id, mr->run->jobs[job].def->id, slot);
                return;
        }
        take(m, jc, slot);
}

unsigned job_users_free(Manager *m) {
        unsigned n = 0;

        for (unsigned i = 0; i < JOB_USERS; i++)
                n += !m->job_user_taken[i];
        return n;
}

int job_user_acquire(ManagedRun *mr, size_t job) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        unsigned slot;
        int r;

        job_user_recover(mr, job);
        if (jc->uid != (uid_t) -1)
                return userdb_write(jc->uid - JOB_UID_MIN, jc->uid, m->step_home);
        for (slot = 0; slot < JOB_USERS && m->job_user_taken[slot]; slot++)
                ;
        if (slot == JOB_USERS)
                return -EUSERS;
        r = userdb_write(slot, JOB_UID_MIN + slot, m->step_home);
        if (r < 0) {
                userdb_remove(slot);
                return r;
        }
        take(m, jc, slot);
        return 0;
}

/* Called once the job's processes are gone: what it leaves is first put out of the user's reach (the
 * removal runs later, on the remover, and a later job may get the same UID meanwhile), then the user
 * is given back. */
void job_user_release(ManagedRun *mr, size_t job, const char *workspace) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        unsigned slot;

        if (jc->uid == (uid_t) -1)
                return;
        if (workspace && (chown(workspace, 0, 0) < 0 || chmod(workspace, 0700) < 0) && errno != ENOENT)
                log_warning_errno(-errno,
                        "Run %" PRIu64 ": cannot take workspace %s from the job's user: %m", mr->id,
                        workspace);
        if (jc->files_dir && chmod(jc->files_dir, 0700) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Run %" PRIu64 ": cannot close %s: %m", mr->id, jc->files_dir);
        slot = jc->uid - JOB_UID_MIN;
        userdb_remove(slot);
        m->job_user_taken[slot] = false;
        jc->uid = (uid_t) -1;
}

/* At start-up, once the runs are taken over: the records of users no job holds go. */
void job_users_sweep(Manager *m) {
        for (unsigned i = 0; i < JOB_USERS; i++)
                if (!m->job_user_taken[i])
                        userdb_remove(i);
}
