/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "step-log.h"

#define COPY_CHUNK (1024U * 1024U)

int step_log_init(StepLog *l, int fd, const char *path, uint64_t max) {
        const char *slash = path ? strrchr(path, '/') : NULL;
        struct stat st;

        *l = STEP_LOG_NULL;
        l->fd = fd;
        l->max = max;
        l->head_max = max - max / 10;
        l->tail_max = max / 10;
        if (fd >= 0 && fstat(fd, &st) == 0)
                l->base = st.st_size;
        if (max > 0) {
                l->dir = slash ? strndup(path, (size_t) (slash - path)) : strdup(".");
                if (!l->dir)
                        return -ENOMEM;
                if (!*l->dir) {
                        free(l->dir);
                        l->dir = strdup("/");
                        if (!l->dir)
                                return -ENOMEM;
                }
        }
        return 0;
}

void step_log_done(StepLog *l) {
        l->fd = safe_close(l->fd);
        l->tail_fd = safe_close(l->tail_fd);
        free(l->dir);
        l->dir = NULL;
}

static int write_all(int fd, const char *data, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

static int pwrite_all(int fd, const char *data, size_t len, off_t offset) {
        while (len > 0) {
                ssize_t n = pwrite(fd, data, len, offset);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                data += n;
                offset += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Copies len bytes of from at offset to the end of to (copy_file_range(2) refuses an O_APPEND target). */
static int copy_range(int from, off_t offset, int to, uint64_t len) {
        _cleanup_free_ char *buf = NULL;

        if (len == 0)
                return 0;
        buf = malloc(COPY_CHUNK);
        if (!buf)
                return -ENOMEM;
        while (len > 0) {
                ssize_t n = pread(from, buf, (size_t) MIN(len, (uint64_t) COPY_CHUNK), offset);
                int r;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                r = write_all(to, buf, (size_t) n);
                if (r < 0)
                        return r;
                offset += n;
                len -= (uint64_t) n;
        }
        return 0;
}

static int fail(StepLog *l, int r, uint64_t len) {
        struct stat st;

        /* Where the log ends, for the report. */
        if (!l->cutting && fstat(l->fd, &st) == 0 && st.st_size >= l->base)
                l->size = (uint64_t) (st.st_size - l->base);
        l->error = r;
        l->lost += len;
        return r;
}

/* The output outgrew max: what lies in the file beyond the head becomes the start of the tail. */
static int start_cutting(StepLog *l) {
        int fd, r;

        /* Beside the log, so that the tail costs disk as the log would, not memory; in memory only
         * where the file system has no O_TMPFILE. */
        fd = open(l->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                fd = memfd_create("runner-step-log-tail", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        l->tail_fd = fd;
        /* The part of the file beyond the head, as the first tail_max bytes of the tail. */
        for (uint64_t done = 0; done < l->tail_max;) {
                char buf[65536];
                ssize_t n = pread(l->fd, buf, (size_t) MIN((uint64_t) sizeof(buf), l->tail_max - done),
                        l->base + (off_t) (l->head_max + done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                r = pwrite_all(l->tail_fd, buf, (size_t) n, (off_t) done);
                if (r < 0)
                        return r;
                done += (uint64_t) n;
        }
        if (ftruncate(l->fd, l->base + (off_t) l->head_max) < 0)
                return -errno;
        l->tail_total = l->tail_max;
        l->cutting = true;
        return 0;
}

static int tail_write(StepLog *l, const char *data, size_t len) {
        int r;

        if (len > l->tail_max) {
                /* Only the last tail_max bytes can stay. */
                l->tail_total += len - l->tail_max;
                data += len - l->tail_max;
                len = (size_t) l->tail_max;
        }
        while (len > 0) {
                uint64_t pos = l->tail_total % l->tail_max;
                size_t n = (size_t) MIN((uint64_t) len, l->tail_max - pos);

                r = pwrite_all(l->tail_fd, data, n, (off_t) pos);
                if (r < 0)
                        return r;
                l->tail_total += n;
                data += n;
                len -= n;
        }
        return 0;
}

int step_log_write(StepLog *l, const void *buf, size_t len) {
        const char *data = buf;
        int r;

        if (l->fd < 0 || len == 0)
                return 0;
        if (l->error) {
                l->lost += len;
                return 0;
        }
        if (l->max == 0) {
                r = write_all(l->fd, data, len);
                if (r < 0)
                        return fail(l, r, len);
                l->size += len;
                return 0;
        }
        if (l->finished) {
                /* More output after the marker and the tail were put in place: take them out again. */
                if (ftruncate(l->fd, l->base + (off_t) l->head_max) < 0)
                        return fail(l, -errno, len);
                l->finished = false;
        }
        if (!l->cutting) {
                size_t n = (size_t) MIN((uint64_t) len, l->max - l->size);

                r = write_all(l->fd, data, n);
                if (r < 0)
                        return fail(l, r, len);
                if (l->size < l->head_max && l->size + n >= l->head_max)
                        l->head_last = data[l->head_max - l->size - 1];
                l->size += n;
                data += n;
                len -= n;
                if (len == 0)
                        return 0;
                if (l->tail_max == 0) {
                        l->cutting = true; /* a limit below 10 bytes: no tail to keep */
                } else {
                        r = start_cutting(l);
                        if (r < 0)
                                return fail(l, r, len);
                }
        }
        if (l->tail_max == 0) {
                l->tail_total += len;
                return 0;
        }
        r = tail_write(l, data, len);
        return r < 0 ? fail(l, r, len) : 0;
}

int step_log_finish(StepLog *l) {
        char marker[256];
        uint64_t kept, pos;
        int n, r;

        if (l->fd < 0 || l->error || !l->cutting || l->finished)
                return 0;
        kept = MIN(l->tail_total, l->tail_max);
        n = snprintf(marker, sizeof(marker),
                "%s[runner-step: %" PRIu64 " bytes of output cut here; the log keeps the first %" PRIu64
                " and the last %" PRIu64 " bytes (--max-log-size=%" PRIu64 ")]\n",
                l->head_last == '\n' ? "" : "\n", l->tail_total - kept, l->head_max, kept, l->max);
        r = write_all(l->fd, marker, (size_t) n);
        if (r < 0)
                return fail(l, r, 0);
        if (kept > 0) {
                /* The oldest byte kept is where the next would go. */
                pos = l->tail_total % l->tail_max;
                r = copy_range(l->tail_fd, (off_t) pos, l->fd, l->tail_max - pos);
                if (r >= 0)
                        r = copy_range(l->tail_fd, 0, l->fd, pos);
                if (r < 0)
                        return fail(l, r, 0);
        }
        l->finished = true;
        return 0;
}
