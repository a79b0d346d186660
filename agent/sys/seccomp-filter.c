/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "seccomp-filter.h"

int seccomp_policy_load(const char *conf_dir, const char *data_dir, SeccompPolicy **ret, char **ret_path,
        char **ret_message) {
        _cleanup_free_ char *path = NULL, *text = NULL, *message = NULL;
        int r, len;

        *ret_message = NULL;
        if (asprintf(&path, "%s/seccomp.policy", conf_dir) < 0)
                return -ENOMEM;
        if (access(path, F_OK) < 0) {
                free(path);
                if (asprintf(&path, "%s/seccomp.policy", data_dir) < 0)
                        return path = NULL, -ENOMEM;
        }
        len = read_full_file_at(AT_FDCWD, path, SECCOMP_POLICY_MAX_SIZE, &text);
        if (len < 0) {
                if (asprintf(ret_message, "%s: %s", path,
                            len == -EFBIG ? "larger than 64 KiB" : strerror(-len)) < 0)
                        *ret_message = NULL;
                return len;
        }
        r = seccomp_policy_parse(text, (size_t) len, ret, &message);
        if (r < 0) {
                if (asprintf(ret_message, "%s:%s", path, message ?: " out of memory") < 0)
                        *ret_message = NULL;
                return r;
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* The machine's other ABIs, which "abi all" filters alike rather than refuses. */
static const uint32_t secondary_arches[] = {
#if defined(__x86_64__)
        SCMP_ARCH_X86,
        SCMP_ARCH_X32,
#elif defined(__aarch64__)
        SCMP_ARCH_ARM,
#endif
};

int seccomp_policy_compile(const SeccompPolicy *p, void **ret, size_t *ret_len, char **ret_message) {
        scmp_filter_ctx ctx;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *bpf = NULL;
        int r, len;

        *ret_message = NULL;
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        /* runner-step sets no_new_privs itself, before it loads the filter. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r >= 0 && !p->all_abis)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
        for (size_t i = 0; r >= 0 && p->all_abis && i < ELEMENTSOF(secondary_arches); i++) {
                r = seccomp_arch_add(ctx, secondary_arches[i]);
                if (r == -EEXIST)
                        r = 0;
        }
        for (size_t i = 0; r >= 0 && i < p->n_rules; i++) {
                int nr = seccomp_syscall_resolve_name(p->rules[i].name);

                if (nr == __NR_SCMP_ERROR) {
                        if (asprintf(ret_message, "unknown system call '%s'", p->rules[i].name) < 0)
                                *ret_message = NULL;
                        r = -EINVAL;
                        break;
                }
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(p->rules[i].error), nr, 0);
        }
        if (r >= 0) {
                fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
                r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
        }
        seccomp_release(ctx);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        len = read_full_fd(fd, 64U * 1024U, &bpf);
        if (len < 0)
                return len;
        *ret_len = (size_t) len;
        *ret = TAKE_PTR(bpf);
        return 0;
}
