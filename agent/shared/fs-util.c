/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "fs-util.h"
#include "macro.h"

int write_new_file_at(
        int dir_fd, const char *name, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -EBADF;
        const char *p = data;

        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        if (fchmod(fd, mode) < 0)
                return -errno;
        if (uid != (uid_t) -1 && fchown(fd, uid, gid) < 0)
                return -errno;
        return 0;
}

int mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *p = strdup(path);
        size_t len;

        if (!p)
                return -ENOMEM;
        if (p[0] != '/')
                return -EINVAL;
        len = strlen(p);
        for (size_t i = 1; i <= len; i++) {
                bool last = i == len;
                if (p[i] != '/' && !last)
                        continue;
                p[i] = '\0';
                if (mkdir(p, mode) < 0) {
                        if (errno != EEXIST)
                                return -errno;
                } else if (last && uid != (uid_t) -1 && chown(p, uid, gid) < 0)
                        return -errno;
                if (!last)
                        p[i] = '/';
        }
        return 0;
}

static int rm_rf_children(int fd) {
        DIR *d;
        struct dirent *de;
        int r = 0;

        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                int q;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                q = rm_rf_at(dirfd(d), de->d_name);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        return r;
}

int rm_rf_at(int dir_fd, const char *name) {
        struct stat st;
        int fd, r;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = rm_rf_children(fd);
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

int read_user_file_at(int dir_fd, const char *name, uid_t uid, size_t max, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != uid)
                return -EPERM;
        return read_full_fd(fd, max, ret);
}
