#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What only a kernel of the tests' own can show (README, "Steps are untrusted"), inside the machine of
# tests/vm/run with the build installed: a job's MemoryMax= and TasksMax= enforced by the memory and
# pids controllers, the cancellation sequence ending in cgroup.kill, and the whole default seccomp
# policy, which the test container's own filter partly hides. Timings have the slack of software
# emulation (5-10x slower than the machine). TAP.
#
#   test-enforced.sh   (in tests/vm/run's working directory, with lib.sh and seccomp-probe beside it)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [[ $(id -u) -ne 0 || ! -d /run/systemd/system ]] || [[ $(systemd-detect-virt 2>/dev/null) != qemu && $(systemd-detect-virt 2>/dev/null) != kvm ]]; then
        echo "1..0 # SKIP changes the machine's kernel settings: only inside tests/vm/run's machine"
        exit 77
fi

scratch test-enforced
conf=/etc/runner-agent/agent.conf.d/50-test-enforced.conf
trap 'rm -rf "$work" "$marks" "$conf"' EXIT
install -m 0755 "$here/seccomp-probe" /usr/local/bin/seccomp-probe
mkdir -p /etc/runner-agent/agent.conf.d

state() { runnerctl status --json "$1"; }
# agent_with TEXT: agent.conf.d/50-test-enforced.conf says TEXT (and jobs run side by side); restart.
agent_with() {
        printf '[Agent]\nMaxParallelJobs=infinity\n%s\n' "$1" >"$conf"
        systemctl restart runner-agent || { journalctl -u runner-agent --no-pager | tail -20; echo "Bail out! runner-agent did not start"; exit 1; }
}
controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
say "cgroup2 controllers: $controllers; kernel $(uname -r); $(systemd-analyze time | head -n 1)"
check "the kernel offers the memory and pids controllers" bash -c '[[ " $1 " == *" memory "* && " $1 " == *" pids "* ]]' _ "$controllers"

# ---- 1. MemoryMax=: one job allocates past it, a job of another run beside it is untouched ----
agent_with $'[Job]\nMemoryMax=64M\nTasksMax=200'
cat >"$work/hog.yml" <<YML
jobs:
  hog:
    steps:
      - run: |
          for i in \$(seq 600); do [ -e $marks/neighbour.ready ] && break; sleep 0.1; done
          python3 -c 'b = bytearray(b"x") * (256 << 20); print("ALLOCATED", len(b))'
  entry:
    steps:
      - shell: python3 {0}
        run: |
          import os, time
          for i in range(600):
              if os.path.exists("$marks/neighbour.ready"): break
              time.sleep(0.1)
          b = bytearray(b"x") * (256 << 20)
          print("ALLOCATED", len(b))
YML
cat >"$work/neighbour.yml" <<YML
jobs:
  neighbour:
    steps:
      - run: |
          sleep 1000 & sleeper=\$!
          python3 -c 'b = bytearray(b"x") * (16 << 20); print("NEIGHBOUR-ALLOCATED", len(b))'
          touch $marks/neighbour.ready
          for i in \$(seq 1200); do [ -e $marks/hog.done ] && break; sleep 0.1; done
          kill -0 \$sleeper && echo "NEIGHBOUR-SLEEPER-ALIVE"
          python3 -c 'b = bytearray(b"x") * (16 << 20); print("NEIGHBOUR-STILL-ALLOCATES", len(b))'
          kill \$sleeper
YML
nb=$(runnerctl run "$work/neighbour.yml")
hog=$(runnerctl run "$work/hog.yml")
wait_for 180 completed "$hog" || say "the hog's run did not complete"
touch "$marks/hog.done"
wait_for 180 completed "$nb" || say "the neighbour's run did not complete"
hs=$(state "$hog")
say "hog: $(jq -c '(.jobs[] | select(.id == "hog")).steps[0] | {conclusion, message}' <<<"$hs")"
say "hog's log: $(runnerctl logs "$hog" hog 1 | tail -n 3)"
say "hog's entry: $(jq -c '(.jobs[] | select(.id == "entry")).steps[0] | {conclusion, message}' <<<"$hs")"
check "the step whose python3 allocated 256 MiB past MemoryMax=64M concluded failure" \
        jq -e '.conclusion == "failure" and (.jobs[] | select(.id == "hog")).steps[0].conclusion == "failure"' <<<"$hs"
check "… with a message naming the OOM killer and MemoryMax=64M" \
        jq -e '(.jobs[] | select(.id == "hog")).steps[0].message | test("^A process of the step was killed by the kernel.s OOM killer: its job used all of its memory \\(MemoryMax=64M in \\[Job\\] of agent.conf\\). The step exited with code 137.$")' <<<"$hs"
check "… and never got its memory" bash -c '! grep -q "^ALLOCATED" <<<"$1"' _ "$(runnerctl logs "$hog" hog 1)"
check "a step whose entry itself (python3) was OOM-killed concluded failure, the message saying so" \
        jq -e '(.jobs[] | select(.id == "entry")).steps[0].conclusion == "failure" and ((.jobs[] | select(.id == "entry")).steps[0].message | test("^The step was killed by the kernel.s OOM killer: its job used all of its memory \\(MemoryMax=64M"))' <<<"$hs"
nlog=$(runnerctl logs "$nb" neighbour 1)
say "neighbour: $(tr '\n' ' ' <<<"$nlog")"
check "the job beside it concluded success" jq -e '.conclusion == "success"' <<<"$(state "$nb")"
check "… its process lived through the OOM kill next door, and it still allocates" \
        bash -c 'grep -q "^NEIGHBOUR-SLEEPER-ALIVE$" <<<"$1" && grep -q "^NEIGHBOUR-STILL-ALLOCATES" <<<"$1"' _ "$nlog"

# ---- 2. TasksMax=: a fork loop stops at the limit ----
agent_with $'[Job]\nTasksMax=40'
cat >"$work/forks.yml" <<'YML'
jobs:
  forks:
    steps:
      - shell: python3 {0}
        run: |
          import os, sys, time
          slice = os.path.dirname(os.path.dirname(open("/proc/self/cgroup").read().strip().split("::")[1]))
          base = "/sys/fs/cgroup" + slice
          forks, high = 0, 0
          for i in range(400):
              try:
                  pid = os.fork()
              except BlockingIOError:
                  print("FORK-FAILED EAGAIN after", forks)
                  break
              if pid == 0:
                  time.sleep(1000)
                  os._exit(0)
              forks += 1
              high = max(high, int(open(base + "/pids.current").read()))
          else:
              print("NO-FAILURE after", forks)
          print("SLICE", slice, "pids.max", open(base + "/pids.max").read().strip(), "highest", high)
          sys.stdout.flush()
          os._exit(0)
YML
f=$(runnerctl run "$work/forks.yml")
wait_for 180 completed "$f" || say "the fork loop's run did not complete"
flog=$(runnerctl logs "$f" forks 1)
say "fork loop: $(tr '\n' ' ' <<<"$flog")"
forks=$(sed -n 's/^FORK-FAILED EAGAIN after \([0-9]*\)$/\1/p' <<<"$flog")
high=$(sed -n 's/.* highest \([0-9]*\)$/\1/p' <<<"$flog")
check "the fork loop saw fork fail with EAGAIN, after $forks forks (TasksMax=40, with runner-step and the step's shell)" \
        within "$forks" 30 40
check "the job's slice never held more than 40 tasks (pids.max $(sed -n 's/.*pids.max \([^ ]*\) .*/\1/p' <<<"$flog"), highest $high)" \
        within "$high" 30 40
check "the run concluded success" jq -e '.conclusion == "success"' <<<"$(state "$f")"
wait_for 30 test -z "$(live_runner_processes)"
check "none of the forked processes survived the step" test -z "$(live_runner_processes)"

# ---- 3. the cancellation sequence and cgroup.kill, as in the container tier (test-cancel.sh), with
# the slack of emulation ----
agent_with ""
cat >"$work/stubborn.yml" <<YML
jobs:
  stubborn:
    steps:
      - run: |
          trap 'echo \$EPOCHREALTIME > $marks/int' INT
          trap 'echo \$EPOCHREALTIME > $marks/term' TERM
          ( setsid sleep 1001 & )
          nohup sleep 1002 >/dev/null 2>&1 &
          bash -c "trap '' INT TERM; sleep 1003" &
          ( while :; do sleep 1006 & sleep 0.2; done ) &
          touch $marks/stubborn.ready
          while :; do echo \$EPOCHREALTIME >> $marks/beat; sleep 0.02 & wait \$! || true; done
YML
id=$(runnerctl run "$work/stubborn.yml")
wait_for 120 test -e "$marks/stubborn.ready"
wait_for 30 bash -c 'pgrep -u "$1" -f "sleep 1001" && pgrep -u "$1" -f "sleep 1006"' _ "$JOB_UIDS"
say "processes of the step before the cancel: $(pgrep -u "$JOB_UIDS" | wc -l)"
runnerctl cancel "$id" >/dev/null
wait_for 120 completed "$id" || say "the cancelled run did not complete"
check "the run completed, cancelled" jq -e '.conclusion == "cancelled"' <<<"$(state "$id")"
int_term=$(ms_between "$marks/int" "$marks/term")
check "the step saw SIGTERM 7500 ms after SIGINT ($int_term ms; 7000-9500 under emulation)" within "$int_term" 7000 9500
# The agent's own times for the kill (RUNNER_ELAPSED_USEC, taken as it acts): a step starved of CPU by
# the emulation sees late what it sees, and journald may stamp an event late.
journalctl --sync
events=$(runnerctl events --json "$id")
term_event=$(jq -c '[.[] | select(.RUNNER_EVENT == "terminate")][0] // empty' <<<"$events")
kill_event=$(jq -c '[.[] | select(.RUNNER_EVENT == "kill")][0] // empty' <<<"$events")
gap=$(( ($(jq -r '.RUNNER_ELAPSED_USEC // 0' <<<"$kill_event") - $(jq -r '.RUNNER_ELAPSED_USEC // 0' <<<"$term_event")) / 1000 ))
last_beat=$(ms_between "$marks/term" "$marks/beat")
say "kill event: $(jq -c '{RUNNER_PROCESSES, RUNNER_ELAPSED_USEC}' <<<"$kill_event"); last sign of life $last_beat ms after SIGTERM"
check "the agent killed 2500 ms after SIGTERM ($gap ms; 2000-4000)" within "$gap" 2000 4000
check "… and the step showed no sign of life after it (last $last_beat ms after SIGTERM)" \
        test "$last_beat" -le $((gap + 500))
check "the kill (cgroup.kill) found the whole tree (RUNNER_PROCESSES >= 5)" \
        test "$(jq -r '.RUNNER_PROCESSES // 0' <<<"$kill_event")" -ge 5
check "no process of the step survived" test -z "$(live_runner_processes)"
check "no cgroup of the run is left" test ! -e "/sys/fs/cgroup/runner.slice/runner-r$id.slice"

# ---- 4. the whole default seccomp policy ----
# Without the filter an unprivileged process gets another answer than EPERM from every call below but
# the ones marked "(capability)"; unprivileged eBPF is made reachable for that (the machine is thrown
# away). The ABIs: x32 is off in Debian's kernel (ENOSYS without the filter), the 32-bit one is on.
sysctl -qw kernel.unprivileged_bpf_disabled=0
cat >"$work/seccomp.yml" <<YML
jobs:
  probe:
    steps:
      - run: seccomp-probe
      - run: |
          printf '#include <stdio.h>\nint main(void) { puts("CC-OK"); return 0; }\n' >hello.c
          printf 'hello: hello.c\n\tcc -O2 -o \$@ \$<\n' >Makefile
          make -s && ./hello
          python3 -c 'print("PYTHON-OK")'
          git init -q . && git add hello.c && git -c user.email=a@example.org -c user.name=a commit -qm x && echo GIT-OK
YML
s=$(runnerctl run "$work/seccomp.yml")
wait_for 180 completed "$s" || say "the probe's run did not complete"
plog=$(runnerctl logs "$s" probe 1)
say "$plog"
policy=$(awk '$1 == "deny" { print $2 }' /usr/share/runner-agent/seccomp.policy)
check "the shipped policy denies the 18 calls of the README" test "$(wc -l <<<"$policy")" -eq 18
for call in $policy; do
        check "$call fails with EPERM in a step" grep -Eq "^$call refused EPERM( \(capability\))?$" <<<"$plog"
done
check "a call through the x32 ABI fails with EPERM" grep -q "^x32-getpid refused EPERM$" <<<"$plog"
check "a call through the 32-bit ABI (int 0x80) fails with EPERM" grep -q "^i386-getpid refused EPERM$" <<<"$plog"
blog=$(runnerctl logs "$s" probe 2)
say "$blog"
check "a build works in a step: cc and make, python3, git" \
        bash -c 'grep -q "^CC-OK$" <<<"$1" && grep -q "^PYTHON-OK$" <<<"$1" && grep -q "^GIT-OK$" <<<"$1"' _ "$blog"
check "the probe's run concluded success" jq -e '.conclusion == "success"' <<<"$(state "$s")"

echo "1..$n"
[[ $failed -eq 0 ]]
