/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Calls each system call the default seccomp policy refuses (policy/seccomp.policy) directly through
 * syscall(2) and prints one line for each: "NAME refused ERRNO-NAME" or "NAME ran". The arguments are
 * chosen so that without the filter the kernel answers something other than EPERM wherever an
 * unprivileged process can reach the call at all: a key type that does not exist, zeroed eBPF
 * attributes, userfaultfd in user mode only; mount, umount2, pivot_root and reboot are called as root
 * of a user and PID namespace of the probe's own, where the kernel would let them through. The calls
 * that need a capability of the machine's (kexec, modules, swap, open_by_handle_at) fail with EPERM for
 * a step's user with or without the filter, and are marked "(capability)".
 *
 *   seccomp-probe
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r, int error, const char *note) {
        if (r >= 0)
                printf("%s ran%s\n", name, note);
        else
                printf("%s refused %s%s\n", name, strerrorname_np(error) ?: "?", note);
}

#define PROBE(name, note, ...) \
        do { \
                errno = 0; \
                long r_ = syscall(__VA_ARGS__); \
                report(name, r_, errno, note); \
        } while (0)

static int write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int saved = errno;
        close(fd);
        return n == (ssize_t) strlen(text) ? 0 : -saved;
}

/* Root of a user namespace of its own, in new mount and PID namespaces: the kernel's own checks would
 * allow mount, umount2, pivot_root (it fails on its arguments) and reboot (it fails on its magic). */
static void in_namespaces(void) {
        char map[64];
        uid_t uid = getuid();
        gid_t gid = getgid();
        pid_t pid;
        int status;

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) < 0) {
                printf("# no user namespace here (%s): mount, umount2, pivot_root, reboot as the step's user\n",
                        strerrorname_np(errno));
                PROBE("mount", "", SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
                PROBE("umount2", "", SYS_umount2, "/mnt", 0);
                PROBE("pivot_root", "", SYS_pivot_root, ".", ".");
                PROBE("reboot", "", SYS_reboot, 0, 0, 0, NULL);
                return;
        }
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned) uid);
        (void) write_file("/proc/self/setgroups", "deny");
        if (write_file("/proc/self/uid_map", map) < 0)
                printf("# cannot write uid_map\n");
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned) gid);
        (void) write_file("/proc/self/gid_map", map);
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                printf("# fork: %s\n", strerrorname_np(errno));
                return;
        }
        if (pid == 0) {
                /* PID 1 of the new PID namespace, whose user namespace is ours. */
                PROBE("mount", "", SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
                PROBE("umount2", "", SYS_umount2, "/mnt", 0);
                PROBE("pivot_root", "", SYS_pivot_root, ".", ".");
                PROBE("reboot", "", SYS_reboot, 0, 0, 0, NULL);
                fflush(stdout);
                _exit(0);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
}

int main(void) {
        long r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        PROBE("kexec_load", " (capability)", SYS_kexec_load, 0, 0, NULL, 0);
        PROBE("kexec_file_load", " (capability)", SYS_kexec_file_load, -1, -1, 0, "", 0);
        PROBE("init_module", " (capability)", SYS_init_module, NULL, 0, "");
        PROBE("finit_module", " (capability)", SYS_finit_module, -1, "", 0);
        PROBE("delete_module", " (capability)", SYS_delete_module, "runner_probe_no_such_module", 0);
        PROBE("add_key", "", SYS_add_key, "runner_probe_no_such_type", "d", NULL, 0, -2 /* process */);
        PROBE("request_key", "", SYS_request_key, "runner_probe_no_such_type", "d", NULL, 0);
        PROBE("keyctl", "", SYS_keyctl, 0 /* GET_KEYRING_ID */, -2 /* process */, 0);
        PROBE("bpf", "", SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0);
        PROBE("userfaultfd", "", SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */);
        PROBE("perf_event_open", "", SYS_perf_event_open, NULL, 0, -1, -1, 0);
        PROBE("open_by_handle_at", " (capability)", SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
        PROBE("swapon", " (capability)", SYS_swapon, "/runner-probe-no-such-file", 0);
        PROBE("swapoff", " (capability)", SYS_swapoff, "/runner-probe-no-such-file");
        in_namespaces();
        errno = 0;
        r = syscall(0x40000000 | SYS_getpid); /* the x32 ABI */
        report("x32-getpid", r, errno, "");
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* the 32-bit ABI's getpid */
        report("i386-getpid", r, r < 0 ? (int) -r : 0, "");
        return 0;
}
