#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A hostile workflow against the root agent, inside the throwaway container. Each attack is carried
# out for real, by a step (through whatever it inherits) and by a compromised runner-step (through
# the control protocol itself); the test checks what the attacker would want to see change: a run's
# conclusion, a signal to a process outside the run, the agent's descriptors, a wedged agent. TAP.
#
#   test-hostile.sh BUILD_DIR
set -uo pipefail

build=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
require_test_container

# Where every step can run it: a job sees neither the host's /tmp nor its /var/tmp, where a checkout
# (and its build) may well be. The container's /usr/local is thrown away with it.
install -m 0755 "$build/tests/hostile" /usr/local/bin/runner-test-hostile
hostile=/usr/local/bin/runner-test-hostile
work=$(mktemp -d /srv/test-hostile.XXXXXX)
chmod 0755 "$work"
dropin=/run/systemd/system/runner-agent.service.d
cleanup() {
        systemctl stop hostile-canary.service 2>/dev/null
        rm -rf "$work" "$dropin/50-test-hostile.conf" /etc/runner-agent/agent.conf.d/50-test-hostile.conf
        systemctl daemon-reload
        mountpoint -q /var/lib/runner-agent/runs && { systemctl stop runner-agent; umount /var/lib/runner-agent/runs; }
}
trap cleanup EXIT

install_agent "$build"
mkdir -p /etc/runner-agent/agent.conf.d
# Short stages: the attacks below ride on a step timeout's escalation.
printf '[Cancel]\nInterruptTimeoutSec=300ms\nTerminateTimeoutSec=300ms\n' \
        >/etc/runner-agent/agent.conf.d/50-test-hostile.conf
systemctl restart runner-agent || { journalctl -u runner-agent --no-pager | tail -20; echo "Bail out! runner-agent did not start"; exit 1; }

agent_pid() { systemctl show -P MainPID runner-agent; }
agent_fds() { ls "/proc/$(agent_pid)/fd" | wc -l; }
conclusion() { runnerctl status --json "$1" | jq -r "$2"; }
# submit FILE: runs it to completion; prints the run id. Bounded, so that an agent the attack brought
# down fails the checks instead of hanging the test.
submit() { timeout 120 runnerctl run --wait "$1" 2>/dev/null | head -n1; }

# A root process outside every run, which records any signal it gets.
systemd-run --quiet --unit=hostile-canary --property=Type=exec \
        bash -c 'trap "echo INT >>'"$work"'/canary" INT; trap "echo TERM >>'"$work"'/canary" TERM
                 while :; do sleep 0.2 & wait; done'
canary=$(systemctl show -P MainPID hostile-canary)
pid_before=$(agent_pid)

# ---- 1. steps inherit nothing of the agent's or the shim's ----
cat >"$work/fds.yml" <<'YML'
jobs:
  j:
    steps:
      - run: |
          ls -l /proc/$$/fd/
          for fd in /proc/$$/fd/*; do
            case "$(readlink "$fd")" in socket:*) echo "INHERITED SOCKET ${fd##*/}" ;; esac
          done
          [ ! -e /proc/$$/fd/3 ] || echo "FD3 OPEN"
YML
id=$(submit "$work/fds.yml")
log=$(runnerctl logs "$id" j 1)
say "$log"
check "a step's shell has no socket among its descriptors" bash -c '! grep -q "INHERITED SOCKET" <<<"$1"' _ "$log"
check "a step's shell has no fd 3" bash -c '! grep -q "FD3 OPEN" <<<"$1"' _ "$log"

# ---- 2. a forged result through an inherited control socket ----
cat >"$work/forge.yml" <<YML
jobs:
  j:
    steps:
      - run: |
          printf 'exited 0 0' >&3 || true
          $hostile step forge-exit
          sleep 1
          exit 42
YML
out=$(runnerctl run --wait "$work/forge.yml" 2>&1); rc=$?
id=$(head -n1 <<<"$out")
check "a forged 'exited 0 0' is ignored: runnerctl run --wait exits 1 (got $rc)" test "$rc" -eq 1
check "the run concludes by the real exit status: failure" test "$(conclusion "$id" .conclusion)" = failure
check "the step's exit_code is the real one, 42" test "$(conclusion "$id" '.jobs[0].steps[0].exit_code')" = 42
check "runner-step recorded the exit status where a restarted agent reads it" \
        grep -qx 'exit_code=42' "/var/lib/runner-agent/runs/$id/logs/j1-s1.exit"
check "the journal has no failure to record an exit status" \
        bash -c '! journalctl --no-pager -o cat _COMM=runner-step | grep -q "failed to record the exit status"'

# ---- 3. a step makes the agent signal a process outside the run ----
cat >"$work/signal.yml" <<YML
jobs:
  j:
    steps:
      - timeout-minutes: 0.05
        run: |
          $hostile step signal $canary $(agent_pid)
          trap '' INT TERM
          sleep 1000
YML
id=$(submit "$work/signal.yml")
check "the timed-out step concludes failure" test "$(conclusion "$id" '.jobs[0].steps[0].conclusion')" = failure
check "the root canary outside the run got no signal" test ! -s "$work/canary"
check "the root canary still runs" kill -0 "$canary"
check "the agent still runs, as the same process" test "$(agent_pid)" = "$pid_before"
check "the step's own sleep was killed with its scope" bash -c "! pgrep -u $JOB_UIDS -f 'sleep 1000'"

# ---- 4. descriptor flood from a step ----
fds_before=$(agent_fds)
cat >"$work/flood.yml" <<YML
jobs:
  j:
    steps:
      - run: $hostile step flood 2000
YML
id=$(submit "$work/flood.yml")
fds_after=$(agent_fds)
check "after 2,000 messages with 2 descriptors each from a step, the agent holds $fds_after descriptors (before: $fds_before)" \
        test "$fds_after" -eq "$fds_before"

# ---- 4b. a workspace nested deeper than any walk in the agent could follow ----
cat >"$work/deep.yml" <<'YML'
jobs:
  deep:
    steps:
      - run: |
          python3 -c "
          import os
          for i in range(30000):
              os.mkdir('d'); os.chdir('d')
          "
YML
pid_before=$(agent_pid)
id=$(submit "$work/deep.yml")
check "a step that nests 30,000 directories in its workspace concludes success" \
        test "$(conclusion "$id" .conclusion)" = success
check "the agent survived the job's end, as the same process" test "$(agent_pid)" = "$pid_before"
check "the workspace is removed all the same" wait_for 120 test ! -e "/var/lib/runner-agent/work/r$id/deep"
id=$(submit "$work/fds.yml")
check "the next run works ($id)" test "$(conclusion "$id" .conclusion)" = success

# ---- 5. a compromised runner-step: the agent believes nothing beyond the protocol ----
mkdir -p "$dropin"
printf '[Service]\nEnvironment=RUNNER_STEP_PATH=%s\n' "$hostile" >"$dropin/50-test-hostile.conf"
systemctl daemon-reload
systemctl restart runner-agent
pid_before=$(agent_pid)
cat >"$work/tiny.yml" <<'YML'
jobs:
  j:
    steps:
      - run: "true"
YML
submit "$work/tiny.yml" >/dev/null # what the agent opens once, on its first run, is not a leak
fds_before=$(agent_fds)
cat >"$work/shim.yml" <<YML
jobs:
  flood:
    steps:
      - name: flood
        run: "true"
      - name: after
        if: always()
        run: "true"
  forge-canary:
    steps:
      - name: forge-pid:$canary
        timeout-minutes: 0.05
        run: "true"
  forge-agent:
    steps:
      - name: forge-pid:$pid_before
        timeout-minutes: 0.05
        run: "true"
  not-pidfd:
    steps:
      - name: not-pidfd
        run: "true"
  early-exit:
    steps:
      - name: early-exit
        run: sleep 1000
  outside-payload:
    steps:
      - name: outside-payload
        run: sleep 1001
YML
id=$(submit "$work/shim.yml")
say "$(runnerctl status "$id")"
for job in flood forge-canary forge-agent not-pidfd early-exit outside-payload; do
        check "$job: the step concludes failure" \
                test "$(conclusion "$id" ".jobs[] | select(.id == \"$job\") | .steps[0].conclusion")" = failure
        check "$job: its message says the protocol was broken" \
                bash -c 'runnerctl status --json "$1" | jq -e --arg j "$2" ".jobs[] | select(.id == \$j) | .steps[0].message | test(\"broke the control protocol\")"' _ "$id" "$job"
done
check "flood: the job's next (always) step still ran and succeeded" \
        test "$(conclusion "$id" '.jobs[0].steps[1].conclusion')" = success
fds_after=$(agent_fds)
check "after 2,000 hostile messages with 2 descriptors each, the agent holds $fds_after descriptors (before: $fds_before)" \
        test "$fds_after" -eq "$fds_before"
check "the root canary got no signal from a forged pidfd" test ! -s "$work/canary"
check "the agent got no signal from a forged pidfd (same process, running)" test "$(agent_pid)" = "$pid_before"
check "early-exit: the entry that was claimed to have exited was killed with its scope" \
        bash -c '! pgrep -f "^sleep 1000$"'
check "outside-payload: the entry started beside the shim, not in the scope's payload, was killed with its scope" \
        bash -c '! pgrep -f "^sleep 1001$"'
rm -f "$dropin/50-test-hostile.conf"
systemctl daemon-reload
systemctl restart runner-agent

# ---- 6. a submit that fails half-way leaves nothing, and the next one works ----
# No space: the runs directory on a small file system, nearly full.
systemctl stop runner-agent
mount -t tmpfs -o size=1m,mode=0750,gid="$(getent group runner-admin | cut -d: -f3)" tmpfs /var/lib/runner-agent/runs
systemctl start runner-agent
head -c 900k /dev/zero >/var/lib/runner-agent/runs/filler
{ cat "$work/tiny.yml"; for ((i = 0; i < 300; i++)); do printf '#%999s\n' ''; done; } >"$work/big.yml"
out=$(runnerctl run "$work/big.yml" 2>&1); rc=$?
say "$out"
check "a submit that runs out of space fails (exit $rc)" test "$rc" -ne 0
check "it says why, plainly" grep -q "no space left" <<<"$out"
check "it leaves nothing in the runs directory" test "$(ls -A /var/lib/runner-agent/runs)" = filler
rm -f /var/lib/runner-agent/runs/filler
id=$(submit "$work/tiny.yml")
check "the next submit works and concludes success (run $id)" test "$(conclusion "$id" .conclusion)" = success
systemctl stop runner-agent
umount /var/lib/runner-agent/runs
systemctl start runner-agent

# No descriptors: the agent's limit lowered so that exactly one descriptor number is free, so that the
# submit gets as far as its directory and fails on the first file in it.
limit=0 free=0
used=" $(ls "/proc/$(agent_pid)/fd" | tr '\n' ' ') "
while ((free < 1)); do
        [[ $used == *" $limit "* ]] || free=$((free + 1))
        limit=$((limit + 1))
done
hard=$(prlimit --pid "$(agent_pid)" --nofile --output=HARD --noheadings)
prlimit --pid "$(agent_pid)" --nofile="$limit:"
out=$(runnerctl run "$work/tiny.yml" 2>&1); rc=$?
say "$out"
check "a submit that runs out of descriptors fails (exit $rc)" test "$rc" -ne 0
check "it says why, plainly" grep -q "too many open files" <<<"$out"
check "it leaves no half-made run directory" bash -c '! ls -A /var/lib/runner-agent/runs | grep -q "^\.new-"'
prlimit --pid "$(agent_pid)" --nofile="$hard:"
id=$(submit "$work/tiny.yml")
check "with descriptors back, the next submit works and concludes success (run $id)" \
        test "$(conclusion "$id" .conclusion)" = success

# ---- the step's cgroups: it cannot leave "payload", make cgroups, or reach its shim ----
# Every process of a step is in its scope's "payload", the shim in "supervisor" (README, Cancellation);
# the kill that ends a step is cgroup.kill of "payload", so a process that could move elsewhere would
# survive it, and one that could stop or kill the shim would cut the step's log short.
case $(uname -m) in
x86_64) sys_ptrace=101 ;;
aarch64) sys_ptrace=117 ;;
*) sys_ptrace= ;;
esac
cat >"$work/cgroups.yml" <<YML
jobs:
  j:
    steps:
      - run: |
          cg=/sys/fs/cgroup\$(sed -n 's/^0:://p' /proc/self/cgroup)
          scope=\${cg%/*}
          echo "CGROUP \$cg"
          [ -e /proc/\$PPID ] && echo "SHIM VISIBLE \$(sed -n 's/^0:://p' /proc/\$PPID/cgroup)"
          try() { if "\$@" 2>/dev/null; then echo "ESCAPED: \$*"; else echo "denied: \$*"; fi; }
          try mkdir "\$cg/mine"
          try mkdir "\$scope/mine"
          try mkdir "\$scope/supervisor/mine"
          for target in "\$scope" "\$scope/supervisor" "\${scope%/*}" /sys/fs/cgroup/runner.slice /sys/fs/cgroup; do
            try sh -c "echo 0 >'\$target/cgroup.procs'"
            try sh -c "echo \$\$ >'\$target/cgroup.procs'"
          done
          try sh -c "echo 1 >'\$scope/supervisor/cgroup.kill'"
          try sh -c "echo 1 >'\$scope/supervisor/cgroup.freeze'"
          try sh -c "echo +pids >'\$scope/cgroup.subtree_control'"
          try kill -0 \$PPID
          try kill -TERM \$PPID
          try kill -STOP \$PPID
          try kill -KILL \$PPID
          try perl -e 'exit(syscall($sys_ptrace, 16, \$ARGV[0], 0, 0) == 0 ? 0 : 1)' \$PPID
          try perl -e 'exit(syscall($sys_ptrace, 16, \$ARGV[0], 0, 0) == 0 ? 0 : 1)' \$(pgrep -x runner-step | head -n1)
          echo "STILL \$(sed -n 's/^0:://p' /proc/self/cgroup)"
          echo "shell still in \$(sed -n 's/^0:://p' /proc/\$\$/cgroup)"
YML
id=$(submit "$work/cgroups.yml")
log=$(runnerctl logs "$id" j 1)
say "$log"
check "the step is in its scope's payload cgroup" grep -q "^CGROUP /sys/fs/cgroup/.*/runner-r$id-j1-s1.scope/payload$" <<<"$log"
# The shim's own place (supervisor) is test-scope-kill's to check: the step's /proc lists only its
# user's processes (README, "Steps are untrusted"), so it cannot even see its shim.
check "… and its shim (root) is not even listed in the step's /proc" bash -c '! grep -q "^SHIM VISIBLE" <<<"$1"' _ "$log"
check "every attempt to make a cgroup, move a process, freeze/kill/control the shim's cgroup, signal or ptrace the shim was denied ($(grep -c '^denied' <<<"$log") denied)" \
        bash -c '! grep -q "^ESCAPED" <<<"$1" && test "$(grep -c "^denied" <<<"$1")" -eq 22' _ "$log"
check "the step's processes are still in payload after the attempts" grep -q "^shell still in .*/runner-r$id-j1-s1.scope/payload$" <<<"$log"
check "the shim outlived the attempts: the step concluded success with its exit reported" \
        test "$(conclusion "$id" .conclusion)" = success
check "no cgroup named mine was made anywhere" test -z "$(find /sys/fs/cgroup -name mine 2>/dev/null)"

echo "1..$n"
[[ $failed -eq 0 ]]
