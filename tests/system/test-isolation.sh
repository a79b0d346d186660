#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Jobs against each other, inside the throwaway container (README, "Steps are untrusted"). Two runs
# at once: run A attacks run B's running step (its environment, its processes, its workspace, its
# RUNNER_TEMP, its file-command files, its script) and plants files in every shared place for a later
# run; the user nobody tries to read B's files; a later run C looks for what A planted. Each attack
# is carried out for real; the test checks what the attacker wants to change: B's result and outputs,
# B's files, what C finds. TAP.
#
#   test-isolation.sh BUILD_DIR
set -uo pipefail

build=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
require_test_container

work=$(mktemp -d /srv/test-isolation.XXXXXX)
chmod 0755 "$work"
# Where the runs tell each other (and this test) their PIDs and paths, as an attacker would find them
# out: the only place both may write.
shared=/srv/test-isolation-shared
rm -rf "$shared" && mkdir -m 0777 "$shared"
trap 'rm -rf "$work" "$shared" /tmp/planted-by-a /etc/runner-agent/seccomp.policy /etc/runner-agent/agent.conf.d/50-test-isolation.conf' EXIT

install_agent "$build"
systemctl restart runner-agent || { journalctl -u runner-agent --no-pager | tail -20; echo "Bail out! runner-agent did not start"; exit 1; }

conclusion() { runnerctl status --json "$1" | jq -r "$2"; }

# ---- B: the victim. Publishes what an attacker needs, waits until A and nobody are done, then
# checks its own files; its second step prints the output the first one set. ----
# mq NAME [create]: opens (or creates, 0644) a POSIX message queue; fails if it cannot.
mq='import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = os.O_CREAT | os.O_RDWR if sys.argv[2:] == ["create"] else os.O_RDONLY
sys.exit(0 if libc.mq_open(sys.argv[1].encode(), flags, 0o644, None) >= 0 else 1)'
cat >"$work/b.yml" <<YML
jobs:
  victim:
    steps:
      - id: s
        env: { SECRET: b-secret-4711, mq: $(jq -Rs . <<<"$mq") }
        run: |
          echo original >"\$GITHUB_WORKSPACE/file"
          echo original >"\$RUNNER_TEMP/file"
          echo "result=b-own" >>"\$GITHUB_OUTPUT"
          sleep 1000 &
          sleeper=\$!
          shmid=\$(ipcmk -M 4096 | awk '{ print \$NF }') && msqid=\$(ipcmk -Q | awk '{ print \$NF }')
          python3 -c "\$mq" /b-queue create
          printf '%s\n' "pid=\$\$" "sleeper=\$sleeper" "ws=\$GITHUB_WORKSPACE" "temp=\$RUNNER_TEMP" \\
                 "output=\$GITHUB_OUTPUT" "script=\$0" "uid=\$(id -u)" "shmid=\$shmid" "msqid=\$msqid" >$shared/b.info.new
          mv $shared/b.info.new $shared/b.info
          for i in \$(seq 1200); do [ -e $shared/a.done ] && [ -e $shared/test.done ] && break; sleep 0.1; done
          [ -e $shared/a.done ] && [ -e $shared/test.done ] || { echo "A or the test never finished"; exit 1; }
          kill -0 \$sleeper && echo "B-SLEEPER-ALIVE"
          kill \$sleeper
          ipcs -m -i \$shmid | grep -q "^uid=" && ipcs -q -i \$msqid | grep -q "^uid=" && python3 -c "\$mq" /b-queue &&
                  echo "B-IPC-INTACT"
          [ "\$(cat "\$GITHUB_WORKSPACE/file")" = original ] && [ "\$(cat "\$RUNNER_TEMP/file")" = original ] &&
                  echo "B-FILES-INTACT"
          ls -A /tmp /var/tmp /dev/shm "\$HOME" | sed 's/^/B-SEES /'
      - run: echo "seen=\${{ steps.s.outputs.result }}"
YML

# ---- A: the attacker. Every attempt prints "denied" or "ESCAPED". ----
cat >"$work/a.yml" <<YML
jobs:
  attacker:
    steps:
      - env: { mq: $(jq -Rs . <<<"$mq") }
        run: |
          echo "ID \$(id -u) \$(id -un) \$(whoami) \$USER \$HOME"
          echo "SSH-USER \$(ssh -G localhost | sed -n 's/^user //p')"
          cd "\$GITHUB_WORKSPACE" && git init -q . && git -c user.email=a@example.org -c user.name=a \\
                  commit -q --allow-empty -m x && echo "GIT-OK \$(git log --format=%an)"
          echo "WS-MODE \$(stat -c '%a %u' "\$GITHUB_WORKSPACE" "\$RUNNER_TEMP" "\$0" "\$GITHUB_OUTPUT" | tr '\n' ' ')"
          echo "ws=\$GITHUB_WORKSPACE" >$shared/a.info
          for i in \$(seq 600); do [ -e $shared/b.info ] && break; sleep 0.1; done
          . $shared/b.info
          echo "B-UID \$uid"
          echo "SEES-UIDS \$(ps -e -o uid= | tr -d ' ' | sort -u | tr '\n' ' ')"
          [ -e /proc/\$pid ] && echo "SEES-B-PID"
          try() { if "\$@" >/dev/null 2>&1; then echo "ESCAPED: \$*"; else echo "denied: \$*"; fi; }
          control() { if "\$@" >/dev/null 2>&1; then echo "control-ok: \$*"; else echo "control-failed: \$*"; fi; }
          try cat /proc/\$pid/environ
          try grep -q b-secret /proc/\$sleeper/environ
          try perl -e 'exit(syscall(101, 16, \$ARGV[0], 0, 0) == 0 ? 0 : 1)' \$pid
          try sh -c 'timeout 2 strace -p "\$1" -o /dev/null; [ \$? -ne 1 ]' _ \$sleeper
          try kill -0 \$pid
          try kill -KILL \$sleeper
          try ls "\$ws"
          try cat "\$ws/file"
          try sh -c 'echo pwned >"\$1/file"' _ "\$ws"
          try sh -c 'echo pwned >"\$1/new"' _ "\$ws"
          try cat "\$temp/file"
          try sh -c 'echo pwned >"\$1/file"' _ "\$temp"
          try sh -c 'echo result=injected >>"\$1"' _ "\$output"
          try sh -c 'echo "echo PWNED-B" >>"\$1"' _ "\$script"
          try cat "\$script"
          try sh -c 'ipcs -m -i "\$1" | grep -q "^uid="' _ \$shmid # ipcs exits 0 for an id it cannot find
          try sh -c 'ipcs -q -i "\$1" | grep -q "^uid="' _ \$msqid
          try python3 -c "\$mq" /b-queue
          # Controls: the same probes against A's own processes and files work.
          sleep 1000 & own=\$!
          control perl -e 'exit(syscall(101, 16, \$ARGV[0], 0, 0) == 0 ? 0 : 1)' \$own
          control grep -q PATH /proc/\$own/environ
          control kill -KILL \$own
          # Plant for whoever comes next.
          for d in /tmp /var/tmp /dev/shm "\$HOME"; do echo planted >"\$d/planted-by-a"; done
          for f in .bashrc .bash_profile .profile; do echo 'echo PWNED-BY-A' >>"\$HOME/\$f"; done
          ls -A /tmp /var/tmp /dev/shm "\$HOME" | sed 's/^/A-SEES /'
          touch $shared/a.done
YML

# ---- C: a later run, in the places A planted into ----
cat >"$work/c.yml" <<YML
jobs:
  later:
    steps:
      - shell: bash -l {0}
        run: |
          echo "ID \$(id -u) \$(id -un)"
          . $shared/a.info
          for d in /tmp /var/tmp /dev/shm "\$HOME"; do [ -e "\$d/planted-by-a" ] && echo "FOUND \$d/planted-by-a"; done
          [ -e "\$ws" ] && { ls -A "\$ws" && echo "READ A's workspace"; }
          find /tmp /var/tmp /dev/shm "\$HOME" -mindepth 1 | sed 's/^/C-SEES /'
          true
YML

b=$(runnerctl run "$work/b.yml")
wait_for 60 test -e "$shared/b.info" || echo "# B never published its info"
a=$(runnerctl run "$work/a.yml")
. "$shared/b.info"
wait_for 60 test -e "$shared/a.done" || echo "# A never finished"

# The user nobody, and the machine outside the jobs, while B runs.
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
nobody_denied=0
for probe in "ls $ws" "cat $ws/file" "cat $temp/file" "cat $script" "cat $output" "cat /proc/$pid/environ" \
        "ls /run/runner-agent/r$b/j1/private"; do
        if as_nobody sh -c "$probe" >/dev/null 2>&1; then say "nobody could: $probe"; else nobody_denied=$((nobody_denied + 1)); fi
done
check "the user nobody could read none of B's workspace, temp, script, output file, environment, private directories ($nobody_denied of 7 denied)" \
        test "$nobody_denied" -eq 7
check "B's workspace and RUNNER_TEMP are 0700 and its script and output file 0600, all of B's user" \
        test "$(stat -c '%a %u' "$ws" "$temp" "$script" "$output" | tr '\n' ' ')" = "700 $uid 700 $uid 600 $uid 600 $uid "
check "nothing A planted in its /tmp is in the machine's /tmp" test ! -e /tmp/planted-by-a
check "… nor in /var/tmp, /dev/shm or the home directory" \
        test ! -e /var/tmp/planted-by-a -a ! -e /dev/shm/planted-by-a -a ! -e /var/lib/runner-agent/home/planted-by-a
touch "$shared/test.done"

wait_for 120 completed "$a"
wait_for 120 completed "$b"
alog=$(runnerctl logs "$a" attacker 1)
blog=$(runnerctl logs "$b" victim 1)
b2log=$(runnerctl logs "$b" victim 2)
say "A: $alog"
say "B: $blog"

a_uid=$(awk '/^ID / { print $2 }' <<<"$alog")
check "A's steps run as a job user of their own, named (id, whoami, USER, ssh agree): $(grep -m1 '^ID ' <<<"$alog")" \
        grep -Eq "^ID 60[5-9][0-9]{2} (runner-[0-9]+) \1 \1 /var/lib/runner-agent/home$" <<<"$alog"
check "ssh and git know the user" bash -c 'grep -Eq "^SSH-USER runner-[0-9]+$" <<<"$1" && grep -Eq "^GIT-OK a$" <<<"$1"' _ "$alog"
check "A's user ($a_uid) is not B's ($uid)" test -n "$a_uid" -a "$a_uid" != "$uid"
check "A's /proc shows only its own user's processes: $(grep '^SEES-UIDS' <<<"$alog")" \
        bash -c 'grep -qx "SEES-UIDS $2 " <<<"$1" && ! grep -q "^SEES-B-PID" <<<"$1"' _ "$alog" "$a_uid"
check "every attack of A on B was denied ($(grep -c '^denied' <<<"$alog") denied, $(grep -c '^ESCAPED' <<<"$alog") escaped)" \
        bash -c '! grep -q "^ESCAPED" <<<"$1" && test "$(grep -c "^denied" <<<"$1")" -eq 18' _ "$alog"
check "the same probes against A's own process worked: environ, SIGKILL (the probes can succeed)" \
        bash -c 'grep -q "^control-ok: grep -q PATH" <<<"$1" && grep -q "^control-ok: kill -KILL" <<<"$1"' _ "$alog"
# systemd-nspawn refuses ptrace to everyone without CAP_SYS_PTRACE: there the ptrace probes prove
# nothing, and the test says so rather than count them.
grep -q "^control-ok: perl" <<<"$alog" || say "ptrace is refused to every process here (the container's own filter): the ptrace and strace probes prove nothing in this tier"
check "B concluded success" test "$(conclusion "$b" .conclusion)" = success
check "B's files are unchanged and its sleeper survived" bash -c 'grep -q "^B-FILES-INTACT$" <<<"$1" && grep -q "^B-SLEEPER-ALIVE$" <<<"$1"' _ "$blog"
check "B's output is its own: seen=b-own" test "$b2log" = "seen=b-own"
check "A saw none of B's System V shared memory and message queue, nor its POSIX message queue; B's are intact (a private IPC namespace)" \
        grep -q "^B-IPC-INTACT$" <<<"$blog"
check "nothing A planted appeared in B's /tmp, /var/tmp, /dev/shm or home" bash -c '! grep -q planted <<<"$1"' _ "$blog"
check "A concluded success" test "$(conclusion "$a" .conclusion)" = success

c=$(timeout 120 runnerctl run --wait "$work/c.yml" 2>/dev/null | head -n1)
clog=$(runnerctl logs "$c" later 1)
say "C: $clog"
check "C (a later run, $(awk '/^ID / { print $3 }' <<<"$clog")) finds nothing A planted in /tmp, /var/tmp, /dev/shm or its home, and no .bashrc of A's ran" \
        bash -c '! grep -q "FOUND\|PWNED\|planted" <<<"$1" && grep -q "^ID " <<<"$1"' _ "$clog"
check "C cannot reach A's workspace" bash -c '! grep -q "READ A" <<<"$1"' _ "$clog"
check "C concluded success" test "$(conclusion "$c" .conclusion)" = success
check "no job user is left once the runs completed (getent passwd runner-0, 60500)" \
        bash -c '! getent passwd runner-0 && ! getent passwd 60500 && test -z "$(ls /run/userdb 2>/dev/null | grep runner-)"'

# ---- the seccomp policy (README, "Steps are untrusted"). systemd-nspawn's own filter already refuses
# keyctl, add_key, bpf and perf_event_open, so here only calls it allows prove anything: userfaultfd
# (user-mode only, which any user may open), the 32-bit and x32 ABIs, mount in a user namespace. The
# whole table is run in the vm tier. ----
cat >"$work/probe.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
        long r;

        setvbuf(stdout, NULL, _IONBF, 0); /* each line out before the next probe */
        if (argc > 1) {
                /* the 32-bit ABI's getpid, alone: a kernel without that ABI kills the caller */
                __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
                printf("i386-getpid %s %ld\n", r >= 0 ? "ran" : "refused", r >= 0 ? 0 : -r);
                return 0;
        }
        errno = 0;
        r = syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */);
        printf("userfaultfd %s %d\n", r >= 0 ? "fd" : "refused", r >= 0 ? 0 : errno);
        errno = 0;
        r = syscall(0x40000000 | SYS_getpid); /* the x32 ABI */
        printf("x32-getpid %s %d\n", r >= 0 ? "ran" : "refused", r >= 0 ? 0 : errno);
        return 0;
}
C
chmod 0644 "$work/probe.c"
# Whether this kernel has the 32-bit ABI at all: some kernels are built or booted without it, and
# then int 0x80 kills the caller everywhere (SIGSEGV), in a step or not. The vm tier's kernel has it.
cc -O2 -o "$work/probe-here" "$work/probe.c"
if "$work/probe-here" i386 >/dev/null 2>&1; then abi32=present; else abi32=absent; fi
say "the 32-bit ABI outside a step: $abi32"
cat >"$work/seccomp.yml" <<YML
jobs:
  probe:
    steps:
      - run: |
          cp $work/probe.c . && printf 'probe: probe.c\n\tcc -O2 -o \$@ \$<\n' >Makefile && make -s && ./probe
          ./probe i386 || echo "i386-getpid killed \$?"
          python3 -c 'print("PYTHON-OK")'
          git init -q . && git add probe.c && git -c user.email=a@example.org -c user.name=a commit -qm x && echo GIT-OK
          unshare -Ur true && echo "USERNS-OK" || echo "USERNS-REFUSED"
          unshare -Urm sh -c 'mount -t tmpfs none /mnt' && echo "USERNS-MOUNT-OK" || echo "USERNS-MOUNT-REFUSED"
YML
s=$(timeout 120 runnerctl run --wait "$work/seccomp.yml" 2>/dev/null | head -n1)
slog=$(runnerctl logs "$s" probe 1)
say "seccomp: $slog"
check "a normal build works in a step: cc and make built the probe, python3 and git ran" \
        bash -c 'grep -q "^userfaultfd " <<<"$1" && grep -q "^PYTHON-OK$" <<<"$1" && grep -q "^GIT-OK$" <<<"$1"' _ "$slog"
check "userfaultfd(UFFD_USER_MODE_ONLY) fails with EPERM in a step" grep -q "^userfaultfd refused 1$" <<<"$slog"
check "a call through the x32 ABI fails with EPERM" grep -q "^x32-getpid refused 1$" <<<"$slog"
if [[ $abi32 == present ]]; then
        check "a call through the 32-bit ABI (int 0x80) fails with EPERM" grep -q "^i386-getpid refused 1$" <<<"$slog"
else
        check "this kernel has no 32-bit ABI (int 0x80 kills the caller outside a step too), nor does a step" \
                grep -q "^i386-getpid killed 139$" <<<"$slog"
fi
grep -q "^USERNS-OK$" <<<"$slog" || say "user namespaces are refused here (the container), so mount in one proves nothing"
check "mount fails even in a user namespace of the step's own (when there is one)" \
        bash -c '! grep -q "^USERNS-MOUNT-OK$" <<<"$1"' _ "$slog"
check "the probe step concluded success" test "$(conclusion "$s" .conclusion)" = success

# An override in /etc/runner-agent replaces the shipped policy whole; one that does not parse stops
# the agent with the line at fault.
printf 'abi native\ndeny kexec_load\n' >/etc/runner-agent/seccomp.policy
systemctl restart runner-agent
s=$(timeout 120 runnerctl run --wait "$work/seccomp.yml" 2>/dev/null | head -n1)
check "with /etc/runner-agent/seccomp.policy not denying it, userfaultfd gives a descriptor again" \
        grep -q "^userfaultfd fd 0$" <(runnerctl logs "$s" probe 1)
printf 'deny kexec_load\nallow bpf\n' >/etc/runner-agent/seccomp.policy
out=$(runner-agent --check-config 2>&1); rc=$?
say "$out"
check "runner-agent --check-config refuses a policy with an unknown directive, naming file and line (exit $rc)" \
        bash -c '[[ $1 -ne 0 ]] && grep -q "seccomp.policy:2: unknown directive" <<<"$2"' _ "$rc" "$out"
printf 'deny no_such_call\n' >/etc/runner-agent/seccomp.policy
out=$(runner-agent --check-config 2>&1); rc=$?
check "… and one naming a system call this machine does not know" \
        bash -c '[[ $1 -ne 0 ]] && grep -q "unknown system call .no_such_call." <<<"$2"' _ "$rc" "$out"
rm -f /etc/runner-agent/seccomp.policy
systemctl restart runner-agent
out=$(runner-agent --check-config 2>&1)
check "--check-config names the policy in effect: the shipped one, 18 calls denied" \
        grep -q "^# seccomp policy: /usr/share/runner-agent/seccomp.policy (18 system calls denied, abi native)$" <<<"$out"

# ---- [Job] limits on each job's slice, and the total on runner.slice. This container has no
# controllers: here only that the agent sets them is checked; the vm tier would check the kernel. ----
slice_props() { systemctl show -P "$2" "runner-r$1-j1.slice"; }
cat >"$work/limits.yml" <<YML
jobs:
  limited:
    steps:
      - run: |
          touch $shared/limits.ready
          for i in \$(seq 600); do [ -e $shared/limits.done ] && break; sleep 0.1; done
YML
l=$(runnerctl run "$work/limits.yml")
wait_for 60 test -e "$shared/limits.ready"
check "by default a job's slice has TasksMax=4096 and no memory limit" \
        test "$(slice_props "$l" TasksMax) $(slice_props "$l" MemoryMax) $(slice_props "$l" MemoryHigh)" = "4096 infinity infinity"
touch "$shared/limits.done"
wait_for 60 completed "$l"
rm -f "$shared"/limits.*
mkdir -p /etc/runner-agent/agent.conf.d
printf '[Job]\nMemoryMax=256M\nMemoryHigh=200M\nTasksMax=100\nCPUWeight=50\nIOWeight=20\n' \
        >/etc/runner-agent/agent.conf.d/50-test-isolation.conf
systemctl restart runner-agent
l=$(runnerctl run "$work/limits.yml")
wait_for 60 test -e "$shared/limits.ready"
got=$(for p in MemoryMax MemoryHigh TasksMax CPUWeight IOWeight; do printf '%s=%s ' $p "$(slice_props "$l" $p)"; done)
say "job slice: $got"
check "[Job] MemoryMax=256M MemoryHigh=200M TasksMax=100 CPUWeight=50 IOWeight=20 are set on the job's slice" \
        test "$got" = "MemoryMax=268435456 MemoryHigh=209715200 TasksMax=100 CPUWeight=50 IOWeight=20 "
touch "$shared/limits.done"
wait_for 60 completed "$l"
check "… and the step concluded success" test "$(conclusion "$l" .conclusion)" = success
rm -f /etc/runner-agent/agent.conf.d/50-test-isolation.conf
systemctl restart runner-agent
total="$(systemctl show -P MemoryMax runner.slice) $(systemctl show -P TasksMax runner.slice)"
say "runner.slice: MemoryMax TasksMax = $total"
check "runner.slice has a total: finite MemoryMax and TasksMax" bash -c '[[ $1 =~ ^[0-9]+\ [0-9]+$ ]]' _ "$total"

echo "1..$n"
[[ $failed -eq 0 ]]
