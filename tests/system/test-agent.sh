#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The issue's acceptance, end to end, inside the throwaway container: installs the build, starts
# runner-agent.service, and drives it only through runnerctl, journalctl and what a user can see
# (processes, units, cgroups, files). TAP output.
#
#   test-agent.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

work=$(mktemp -d /srv/test-agent.XXXXXX)
trap 'rm -rf "$work" /srv/test-agent-shared; rm -f /etc/dbus-1/system.d/zz-test-open.conf /etc/runner-agent/agent.conf.d/*.conf' EXIT

# ---- install, as the packages would ----
install_agent "$build"
useradd --system --no-create-home -G runner-admin tester 2>/dev/null || true
systemctl start runner-agent || { journalctl -u runner-agent --no-pager | tail -20; echo "Bail out! runner-agent did not start"; exit 1; }

check "runner-agent.service is active and said READY (Type=notify)" systemctl is-active -q runner-agent
status_text=$(systemctl show -P StatusText runner-agent)
check "the service reports its status: '$status_text'" grep -q "runs in progress" <<<"$status_text"

state() { runnerctl status --json "$1"; }
wait_status() { # wait_status RUN JQ-CONDITION: polls runnerctl (the test, not the agent)
        local i
        for ((i = 0; i < 200; i++)); do
                state "$1" | jq -e "$2" >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        return 1
}

# ---- 1. three jobs: needs, outputs, env, a failing continue-on-error step ----
cat >"$work/three.yml" <<'YML'
name: three jobs
env:
  GREETING: hello
jobs:
  build:
    env: { TARGET: x86 }
    outputs:
      artifact: ${{ steps.make.outputs.file }}
    steps:
      - id: make
        name: Make
        run: |
          echo "file=app-$TARGET.tar" >> "$GITHUB_OUTPUT"
          echo "cgroup=$(grep '^0::' /proc/self/cgroup)" >> "$GITHUB_OUTPUT"
      - id: flaky
        run: exit 7
        continue-on-error: true
      - id: daemon
        run: |
          ( setsid sh -c 'sleep 1000 & echo $! > /srv/test-agent-shared/daemon.pid' & )
          # The next step needs the PID: wait for it (bounded), not for a guess of how long it takes.
          for i in $(seq 2000); do [ -s /srv/test-agent-shared/daemon.pid ] && break; sleep 0.01; done
          echo "cgroup=$(grep '^0::' /proc/self/cgroup)" >> "$GITHUB_OUTPUT"
      - id: alive
        run: kill -0 "$(cat /srv/test-agent-shared/daemon.pid)"
  test:
    needs: build
    steps:
      - id: use
        env: { ART: '${{ needs.build.outputs.artifact }}' }
        run: |
          echo "seen=$GREETING $ART" >> "$GITHUB_OUTPUT"
          echo "cgroup=$(grep '^0::' /proc/self/cgroup)" >> "$GITHUB_OUTPUT"
  deploy:
    needs: [build, test]
    if: failure()
    steps:
      - run: echo never
YML
# Where a step leaves the daemon's PID for this test: the jobs' own /tmp and /var/tmp are private.
rm -rf /srv/test-agent-shared && mkdir -m 0777 /srv/test-agent-shared
out=$(runnerctl run --wait "$work/three.yml" 2>"$work/err"); rc=$?
id=$(head -n 1 <<<"$out")
say "run $id: runnerctl run --wait exited $rc: $(cat "$work/err")"
check "run --wait prints the run id first and exits 0 for success" test "$rc" -eq 0 -a -n "$id"
state "$id" >"$work/three.json"
check "run conclusion success" jq -e '.status == "completed" and .conclusion == "success"' "$work/three.json"
check "job conclusions build=success test=success deploy=skipped" jq -e \
        '[.jobs[] | .id + "=" + .conclusion] == ["build=success", "test=success", "deploy=skipped"]' "$work/three.json"
check "the failing continue-on-error step: outcome failure, conclusion success, exit code 7" jq -e \
        '.jobs[0].steps[1] | .outcome == "failure" and .conclusion == "success" and .exit_code == 7' "$work/three.json"
check "needs.build.outputs and env reached the next job: '$(jq -r '.jobs[1].steps[0].outputs.seen' "$work/three.json")'" \
        jq -e '.jobs[1].steps[0].outputs.seen == "hello app-x86.tar"' "$work/three.json"
check "steps have the documented fields" jq -e \
        '.jobs[0].steps[0] | (.number == 1 and .id == "make" and .name == "Make" and .status == "completed" and .unit == "runner-r\($id)-j1-s1.scope" and (.started_at|type) == "string" and (.completed_at|type) == "string")' \
        --argjson id "$id" "$work/three.json"
for js in "1 1 make" "1 3 daemon" "2 1 use"; do
        read -r j s sid <<<"$js"
        cg=$(jq -r ".jobs[$((j - 1))].steps[$((s - 1))].outputs.cgroup" "$work/three.json")
        check "step j$j-s$s saw itself in its own scope's payload cgroup: $cg" test "$cg" = \
                "0::/runner.slice/runner-r$id.slice/runner-r$id-j$j.slice/runner-r$id-j$j-s$s.scope/payload"
done
check "the setsid daemon was alive in the next step of the job" jq -e '.jobs[0].steps[3].conclusion == "success"' "$work/three.json"
daemon_pid=$(cat /srv/test-agent-shared/daemon.pid)
check "the setsid daemon ($daemon_pid) is dead after the job" bash -c "! kill -0 $daemon_pid 2>/dev/null"
check "a journald event names the killed daemon (RUNNER_PID=$daemon_pid, sleep 1000)" bash -c \
        "journalctl RUNNER_RUN_ID=$id RUNNER_CANCEL_PHASE=orphans RUNNER_PID=$daemon_pid -o cat | grep -q 'sleep 1000'"
check "no unit of the run remains" bash -c "! systemctl list-units --all --no-legend 'runner-r$id*' | grep -q ."
check "no cgroup of the run remains" test ! -e "/sys/fs/cgroup/runner.slice/runner-r$id.slice"
check "the state file is kept: /var/lib/runner-agent/runs/$id/state.json" \
        jq -e '.conclusion == "success"' "/var/lib/runner-agent/runs/$id/state.json"

# ---- 2. 1 MiB of output, byte for byte ----
python3 -c 'import sys
line = "".join(chr(33 + (i % 90)) for i in range(127)) + "\n"
data = "".join("%06d " % n + line[7:] for n in range(8192))
sys.stdout.write(data[:1048576])' >"$work/big.txt"
chmod 0644 "$work/big.txt"; chmod 0755 "$work"
cat >"$work/big.yml" <<YML
jobs:
  out:
    steps:
      - run: cat $work/big.txt
YML
id=$(runnerctl run --wait "$work/big.yml" 2>/dev/null | head -n 1)
check "1 MiB input is exactly 1048576 bytes" test "$(stat -c %s "$work/big.txt")" -eq 1048576
check "the step log file is byte-for-byte the step's output" cmp -s "$work/big.txt" "/var/lib/runner-agent/runs/$id/logs/j1-s1.log"
runnerctl logs "$id" out 1 >"$work/logs.txt"
check "runnerctl logs RUN JOB STEP prints it byte-for-byte" cmp -s "$work/big.txt" "$work/logs.txt"
lines=$(journalctl RUNNER_RUN_ID="$id" SYSLOG_IDENTIFIER=runner-step -o cat | grep -c '^[0-9]\{6\} ')
say "journald holds $lines of the 8192 lines"
check "journalctl RUNNER_RUN_ID=$id shows the lines (first and last)" bash -c \
        "journalctl RUNNER_RUN_ID=$id -o cat | grep -q '^000000 ' && journalctl RUNNER_RUN_ID=$id -o cat | grep -q '^008191 '"
check "journald entries carry RUNNER_JOB, RUNNER_STEP and RUNNER_UNIT" bash -c \
        "journalctl RUNNER_RUN_ID=$id RUNNER_JOB=out RUNNER_STEP=1 RUNNER_UNIT=runner-r$id-j1-s1.scope -o cat | grep -q '^000001 '"

printf 'jobs:\n  a:\n    steps:\n      - run: echo first-line\n      - run: echo second-line; exit 4\n' >"$work/follow.yml"
out=$(runnerctl run --follow "$work/follow.yml" 2>/dev/null); rc=$?
say "run --follow: $out"
check "run --follow streams each step's output and exits 1 for a failed run" \
        bash -c "[[ $rc -eq 1 ]] && grep -qx first-line <<<'$out' && grep -qx second-line <<<'$out'"

# ---- 3. who may use the agent ----
runs_before=$(runnerctl list --json | jq length)
err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups runnerctl list 2>&1); rc=$?
say "nobody: $err"
check "a user outside runner-admin is refused by the bus policy" test "$rc" -ne 0
check "the refusal says access was denied" grep -qi "denied\|rejected" <<<"$err"
# Open the bus policy wide: the agent's own check must still refuse.
cat >/etc/dbus-1/system.d/zz-test-open.conf <<'XML'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy context="default"><allow send_destination="io.runneragent.Agent1"/></policy></busconfig>
XML
busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
# --verbose shows which layer refused: the agent's own words, not the bus policy's.
err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups runnerctl --verbose run "$work/three.yml" 2>&1); rc=$?
say "nobody, bus policy open: $err"
check "with the bus policy open, the agent itself refuses with AccessDenied (exit $rc)" \
        bash -c "[[ $rc -eq 4 ]] && grep -q 'Only root and members of runner-admin' <<<'$err'"
rm -f /etc/dbus-1/system.d/zz-test-open.conf
busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
check "a member of runner-admin may use it" setpriv --reuid=tester --regid=tester --init-groups runnerctl list
check "nobody's attempts created no run" test "$(runnerctl list --json | jq length)" -eq "$runs_before"

# ---- 4. an invalid workflow is refused with the loader's messages ----
printf 'jobs:\n  a:\n    steps:\n      - run: echo\n        uses: actions/checkout@v4\n' >"$work/bad.yml"
err=$(runnerctl run "$work/bad.yml" 2>&1); rc=$?
say "invalid: $err"
check "an invalid workflow is refused (exit 1)" test "$rc" -eq 1
check "with the loader's file:line:column message" grep -q "bad.yml:5:9: .*uses" <<<"$err"
check "and no run is created" test "$(runnerctl list --json | jq length)" -eq "$runs_before"

# ---- 5. configuration errors carry file:line ----
mkdir -p /etc/runner-agent/agent.conf.d
printf '[Cancel]\nInterruptTimeoutSec=soon\n' >/etc/runner-agent/agent.conf.d/50-bad.conf
err=$(runner-agent --check-config 2>&1); rc=$?
say "bad config: $err"
check "a bad setting is reported as FILE:LINE" bash -c "[[ $rc -ne 0 ]] && grep -q '^/etc/runner-agent/agent.conf.d/50-bad.conf:2: ' <<<'$err'"
rm -f /etc/runner-agent/agent.conf.d/50-bad.conf

# ---- 6. stopping the agent during a run leaves no step process ----
cat >"$work/long.yml" <<'YML'
jobs:
  long:
    steps:
      - run: |
          ( setsid sleep 2000 & )
          sleep 1000
YML
id=$(runnerctl run "$work/long.yml" | head -n 1)
wait_status "$id" '.jobs[0].steps[0].status == "in_progress" and .jobs[0].steps[0].started_at != null' &&
        wait_status "$id" '.jobs[0].steps[0].unit != null'
wait_for 20 bash -c "pgrep -x sleep -a | grep -q 'sleep 1000' && pgrep -a -x sleep | grep -q 'sleep 2000'"
check "the long step runs (sleep 1000 and a setsid sleep 2000)" bash -c "pgrep -x sleep -a | grep -q 'sleep 1000' && pgrep -a -x sleep | grep -q 'sleep 2000'"
systemctl stop runner-agent
check "after systemctl stop runner-agent no step process is left" bash -c "! pgrep -a -x sleep | grep -q 'sleep [12]000'"
check "and no unit of the run" bash -c "! systemctl list-units --all --no-legend 'runner-r$id*' | grep -q ."
check "the run was recorded cancelled" jq -e '.status == "completed" and .conclusion == "cancelled" and .jobs[0].steps[0].conclusion == "cancelled"' \
        "/var/lib/runner-agent/runs/$id/state.json"
journalctl -u runner-agent --no-pager -n 5 -o cat | sed 's/^/# agent: /'
systemctl start runner-agent
check "after a restart the agent lists the earlier runs" test "$(runnerctl list --json | jq length)" -eq "$((runs_before + 1))"
check "and shows the stopped run as cancelled" bash -c "runnerctl status --json $id | jq -e '.conclusion == \"cancelled\"' >/dev/null"
systemctl stop runner-agent

echo "1..$n"
exit $((failed > 0))
