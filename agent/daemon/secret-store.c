/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A run's secrets and the values its steps masked, kept for the next agent (README, "Secrets"): in
 * <runtime dir>/secrets/r<RUN>, a file only root can read, in a directory only root can enter, on a
 * tmpfs that RuntimeDirectoryPreserve=restart keeps across restarts and a reboot empties. Never under
 * the state directory. Removed when the run completes.
 *
 * The file: entries each ended by a NUL byte, "sNAME=VALUE" for a secret, "m<JOB>:VALUE" for a value
 * masked by a step of the job with index JOB, and the values the run's state holds masked as they
 * really are (run_state_unmasked_text()): "e<JOB>:JSON" the job's environment, "o<JOB>.<STEP>:JSON" a
 * step's outputs, "t<JOB>.<STEP>:JSON" the state its action saved (GITHUB_STATE). Written before each
 * save of the state, so that it is never behind it.
 *
 * Beside it, r<RUN>.j<JOB>.s<STEP>.masked: the values a step masked with ::add-mask::, each ended by a
 * NUL byte, as runner-step recorded them before its exit status (runner-step --masked-file; README,
 * "Workflow commands"); read when the step's end is taken, removed once they are kept, and with the
 * run's secrets. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "manager-internal.h"
#include "mask.h"
#include "run-state.h"

#define SECRETS_DIR "secrets"
#define SECRET_STORE_MAX (RUN_SECRETS_SIZE_MAX + 2U * 1024U * 1024U)

/* The directory, created 0700 root if missing, and refused if anything else stands there: a step's
 * user must not have put it there or be able to look into it. */
static int secrets_dir_open(Manager *m) {
        _cleanup_close_ int rfd = -EBADF, fd = -EBADF;
        struct stat st;

        rfd = open(m->runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return -errno;
        if (mkdirat(rfd, SECRETS_DIR, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(rfd, SECRETS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != 0 || (st.st_mode & 07077) != 0)
                return log_error_errno(-EPERM,
                        "%s/" SECRETS_DIR
                        " is not a directory only root can use; refusing to keep secrets there",
                        m->runtime_dir);
        return TAKE_FD(fd);
}

/* A file of the directory that only root can have written and only root can read; -ENOENT: none. */
static int private_file_open(int dir_fd, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) != 0)
                return -EPERM;
        return TAKE_FD(fd);
}

static int put(FILE *f, char kind, const char *prefix, const char *value, size_t len) {
        fputc(kind, f);
        fputs(prefix, f);
        fwrite(value, 1, len, f);
        fputc('\0', f);
        return 0;
}

/* What the run's state holds masked of job's which (run_state_unmasked_text()), as it really is; nothing
 * if it holds nothing masked. */
static int put_unmasked(FILE *f, const Run *run, size_t job, size_t which, char kind, const char *prefix) {
        _cleanup_free_ char *json = NULL;
        int r;

        r = run_state_unmasked_text(run, job, which, &json);
        if (r < 0 || !json)
                return r;
        put(f, kind, prefix, json, strlen(json));
        explicit_bzero(json, strlen(json));
        return 0;
}

int secret_store_save(ManagedRun *mr) {
        const Run *run = mr->run;
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        size_t size = 0, n_masks = 0;
        char name[32];
        FILE *f;
        int r;

        for (size_t j = 0; j < run->n_jobs; j++)
                n_masks += run->jobs[j].added_masks.n;
        if ((!run->secrets || run->secrets->object.n == 0) && n_masks == 0)
                return 0; /* nothing to keep: no file */

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; run->secrets && i < run->secrets->object.n; i++) {
                const ExprPair *p = &run->secrets->object.pairs[i];

                fputc('s', f);
                fwrite(p->key, 1, p->key_len, f);
                fputc('=', f);
                fwrite(p->value->string.s, 1, p->value->string.len, f);
                fputc('\0', f);
        }
        for (size_t j = 0; j < run->n_jobs; j++)
                for (size_t i = 0; i < run->jobs[j].added_masks.n; i++) {
                        char prefix[32];

                        snprintf(prefix, sizeof(prefix), "%zu:", j);
                        put(f, 'm', prefix, run->jobs[j].added_masks.values[i],
                                run->jobs[j].added_masks.lens[i]);
                }
        for (size_t j = 0; j < run->n_jobs; j++)
                for (size_t s = 0; s <= run->jobs[j].n_steps; s++) {
                        /* the job's environment first, then its steps' outputs */
                        size_t step = s == 0 ? RUN_STATE_JOB_ENV : s - 1;
                        char prefix[64];

                        if (s == 0)
                                snprintf(prefix, sizeof(prefix), "%zu:", j);
                        else
                                snprintf(prefix, sizeof(prefix), "%zu.%zu:", j, step);
                        r = put_unmasked(f, run, j, step, s == 0 ? 'e' : 'o', prefix);
                        if (r < 0)
                                goto fail;
                }
        for (size_t j = 0; j < run->n_jobs; j++)
                for (size_t step = 0; step < run->jobs[j].n_steps; step++) {
                        char prefix[64];

                        if (!run->jobs[j].steps[step].state)
                                continue;
                        snprintf(prefix, sizeof(prefix), "%zu.%zu:", j, step);
                        r = put_unmasked(f, run, j, step | RUN_STATE_STEP_STATE, 't', prefix);
                        if (r < 0)
                                goto fail;
                }
        if (fclose(f) != 0)
                return -ENOMEM;

        dir_fd = secrets_dir_open(mr->manager);
        if (dir_fd < 0)
                return dir_fd;
        snprintf(name, sizeof(name), "r%" PRIu64, mr->id);
        r = write_file_atomic_at(dir_fd, name, text, size, 0600);
        explicit_bzero(text, size);
        return r;

fail:
        fclose(f);
        explicit_bzero(text, size);
        return r;
}

int secret_store_load(ManagedRun *mr) {
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ char **secrets = NULL;
        size_t n = 0;
        char name[32];
        ssize_t len;
        int r = 0;

        dir_fd = secrets_dir_open(mr->manager);
        if (dir_fd < 0)
                return dir_fd;
        snprintf(name, sizeof(name), "r%" PRIu64, mr->id);
        fd = private_file_open(dir_fd, name);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd; /* a run without secrets */
        len = read_full_fd(fd, SECRET_STORE_MAX, &text);
        if (len < 0)
                return (int) len;
        if (len > 0 && text[len - 1] != '\0')
                return -EBADMSG;
        secrets = calloc((size_t) len / 2 + 2, sizeof(char *));
        if (!secrets)
                return -ENOMEM;
        /* The secrets first, whatever follows: every later save masks with them, so that no value
         * restored below can reach the state on disk unmasked, even if a later entry is refused. */
        for (ssize_t i = 0; i < len; i += (ssize_t) strlen(text + i) + 1)
                if (text[i] == 's')
                        secrets[n++] = text + i + 1;
        r = run_set_secrets(mr->run, secrets);
        /* The store is written before the state: it may name jobs (a matrix expanded from an
         * expression) or steps the state does not have yet; those entries are skipped. */
        for (ssize_t i = 0; i < len && r >= 0; i += (ssize_t) strlen(text + i) + 1) {
                char *e = text + i, *colon;
                unsigned long job;

                if (e[0] == 's')
                        continue;
                if (e[0] == 'm' && (colon = strchr(e + 1, ':'))) {
                        errno = 0;
                        job = strtoul(e + 1, NULL, 10);
                        r = errno != 0 ? -EBADMSG
                                : job >= mr->run->n_jobs
                                ? 0
                                : run_job_add_mask(mr->run, job, colon + 1, strlen(colon + 1));
                } else if ((e[0] == 'e' || e[0] == 'o' || e[0] == 't') && (colon = strchr(e + 1, ':'))) {
                        unsigned long step = RUN_STATE_JOB_ENV;
                        char *end;

                        errno = 0;
                        job = strtoul(e + 1, &end, 10);
                        if (e[0] != 'e' && *end == '.')
                                step = strtoul(end + 1, &end, 10);
                        r = errno != 0 || end != colon || (e[0] != 'e') == (step == RUN_STATE_JOB_ENV) ||
                                        (e[0] == 't' && (step & RUN_STATE_STEP_STATE))
                                ? -EBADMSG
                                : run_state_unmask(mr->run, job,
                                          e[0] == 't' ? step | RUN_STATE_STEP_STATE : step, colon + 1);
                } else
                        r = -EBADMSG;
        }
        explicit_bzero(text, (size_t) len);
        return r;
}

static void masked_name(char *buf, size_t size, uint64_t id, unsigned job, unsigned step) {
        snprintf(buf, size, "r%" PRIu64 ".j%u.s%u.masked", id, job, step);
}

int secret_store_masked_path(Manager *m, uint64_t id, unsigned job, unsigned step, char **ret) {
        _cleanup_close_ int dir_fd = -EBADF;
        char name[64];

        dir_fd = secrets_dir_open(m); /* made, or checked, before runner-step writes there */
        if (dir_fd < 0)
                return dir_fd;
        masked_name(name, sizeof(name), id, job, step);
        if (asprintf(ret, "%s/" SECRETS_DIR "/%s", m->runtime_dir, name) < 0)
                return -ENOMEM;
        return 0;
}

int secret_store_read_masked(Manager *m, uint64_t id, unsigned job, unsigned step, MaskList *ret) {
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        char name[64];
        int len, r;

        dir_fd = secrets_dir_open(m);
        if (dir_fd < 0)
                return dir_fd;
        masked_name(name, sizeof(name), id, job, step);
        fd = private_file_open(dir_fd, name);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd; /* the step masked nothing */
        /* runner-step's, which never writes more than a job keeps. */
        len = read_full_fd(fd, RUN_JOB_MASKS_SIZE_MAX + RUN_JOB_MASKS_MAX, &text);
        if (len < 0)
                return len;
        r = mask_list_parse(text, (size_t) len, ret);
        explicit_bzero(text, (size_t) len);
        return r;
}

void secret_store_forget_masked(Manager *m, uint64_t id, unsigned job, unsigned step) {
        _cleanup_close_ int dir_fd = -EBADF;
        char name[64];

        dir_fd = secrets_dir_open(m);
        if (dir_fd < 0)
                return;
        masked_name(name, sizeof(name), id, job, step);
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                log_warning_errno(
                        -errno, "Failed to remove %s/" SECRETS_DIR "/%s: %m", m->runtime_dir, name);
}

void secret_store_remove(Manager *m, uint64_t id) {
        _cleanup_close_ int dir_fd = -EBADF;
        char name[32], prefix[32], temp[40];
        DIR *d;
        struct dirent *de;

        dir_fd = secrets_dir_open(m);
        if (dir_fd < 0)
                return;
        snprintf(name, sizeof(name), "r%" PRIu64, id);
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Failed to remove the secrets of run %" PRIu64 ": %m", id);

        /* What runner-step recorded for steps whose end the run did not take, and what a writer killed
         * between creating and renaming left of a file (write_file_atomic_at(): ".#NAME.XXXXXX"). */
        snprintf(prefix, sizeof(prefix), "r%" PRIu64 ".j", id);
        snprintf(temp, sizeof(temp), ".#r%" PRIu64 ".", id);
        d = fdopendir(dir_fd);
        if (!d)
                return;
        TAKE_FD(dir_fd);
        while ((de = readdir(d)))
                if (startswith(de->d_name, prefix) || startswith(de->d_name, temp))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
}
