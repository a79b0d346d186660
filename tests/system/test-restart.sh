#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The agent may die, the steps may not (README, "Restarts"), inside the throwaway container: the agent
# is SIGKILLed, restarted and stopped under running workflows, and what the steps record, their logs,
# the status JSON and the journal show that nothing was interrupted and every escalation kept its
# schedule. TAP.
#
#   test-restart.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-restart
dropin=/run/systemd/system/runner-agent.service.d
cleanup() {
        rm -rf "$work" "$marks" "$dropin/50-test-restart.conf" /etc/runner-agent/agent.conf.d/40-test-restart.conf
        systemctl daemon-reload
}
trap cleanup EXIT

install_agent "$build"
side_by_side 40-test-restart.conf

agent_pid() { systemctl show -P MainPID runner-agent; }
# The status a user compares: what concluded how, with outputs and exit codes; not when, nor which
# run or unit it was.
comparable() {
        [[ -n $1 ]] || return 1
        runnerctl status --json "$1" | jq -S 'del(.id, .source, .created_at, .started_at, .completed_at)
                | .jobs |= map(del(.started_at, .completed_at, .slice)
                | .steps |= map(del(.started_at, .completed_at, .unit)))'
}
wait_done() { wait_for "$1" completed "$2"; }
# same_status RUN-A RUN-B: both known, and alike as comparable() sees them
same_status() {
        local a b
        a=$(comparable "$1") && b=$(comparable "$2") && [[ -n $a && $a == "$b" ]] && return 0
        diff <(echo "$a") <(echo "$b") | sed 's/^/# /' >&2
        return 1
}
# kill_agent: SIGKILL, then wait until systemd has brought a new agent up (Restart=on-failure).
kill_agent() {
        local old
        old=$(agent_pid)
        systemctl kill --kill-who=main --signal=SIGKILL runner-agent
        wait_for 30 bash -c '[[ $(systemctl show -P MainPID runner-agent) != 0 && $(systemctl show -P MainPID runner-agent) != '"$old"' ]] && systemctl is-active -q runner-agent'
}
events() { journalctl --sync; runnerctl events --json "$1"; }

# ---- 1. SIGKILL while a step runs ----
cat >"$work/steady.yml" <<YML
name: steady
jobs:
  build:
    outputs:
      out: \${{ steps.count.outputs.n }}
    steps:
      - id: count
        name: counts through the agent's death
        run: |
          trap 'echo INT >> $marks/steady.signals' INT
          trap 'echo TERM >> $marks/steady.signals' TERM
          id -u > $marks/steady.\$GITHUB_RUN_ID.s1
          for i in \$(seq 1 40); do
            echo "line \$i"
            [ \$i -eq 5 ] && touch $marks/steady.ready
            sleep 0.1
          done
          echo "n=40" >> "\$GITHUB_OUTPUT"
      - run: echo "after \$N"; id -u > $marks/steady.\$GITHUB_RUN_ID.s2
        env:
          N: \${{ steps.count.outputs.n }}
  test:
    needs: build
    steps:
      - run: echo "got \${{ needs.build.outputs.out }}"
YML
ref=$(runnerctl run --wait "$work/steady.yml" 2>/dev/null | head -n1)
rm -f $marks/steady.ready
# A job that holds the first user while steady starts, and is gone before the agent dies: the user
# steady has is then not the first free one, which a new agent that did not find it again would give.
printf 'jobs:\n  holder:\n    steps:\n      - run: touch %s/holder.ready; until [ -e %s/holder.go ]; do sleep 0.05; done\n' \
        "$marks" "$marks" >"$work/holder.yml"
holder=$(runnerctl run "$work/holder.yml")
wait_for 30 test -e $marks/holder.ready
id=$(runnerctl run "$work/steady.yml")
wait_for 30 test -e $marks/steady.ready
touch $marks/holder.go
wait_done 30 "$holder"
pid_before=$(agent_pid)
kill_agent
check "SIGKILLed agent $pid_before is back as $(agent_pid) (Restart=on-failure)" test "$(agent_pid)" != "$pid_before"
# A job started while the taken-over one runs gets a user of its own (README, "Steps are untrusted").
printf 'jobs:\n  other:\n    steps:\n      - run: id -u > %s/other.uid\n' "$marks" >"$work/other.yml"
building=$(runnerctl status --json "$id" | jq -r '.jobs[0].status')
other=$(timeout 60 runnerctl run --wait "$work/other.yml" 2>/dev/null | head -n1)
wait_done 60 "$id"
uids=$(cat $marks/steady.$id.s1 $marks/steady.$id.s2 2>/dev/null | sort -u)
say "the taken-over job ran as $uids; the one started after the restart as $(cat $marks/other.uid 2>/dev/null)"
check "the taken-over job's steps ran as one user before and after the restart" \
        bash -c '[[ -s $1 && -s $2 ]] && cmp -s "$1" "$2"' _ $marks/steady.$id.s1 $marks/steady.$id.s2
check "the job started after the restart, while it ran ($building), got another user" \
        bash -c '[[ $3 == in_progress && -s $1 && $(cat "$1") != "$2" ]]' _ "$marks/other.uid" "$uids" "$building"
say "$(runnerctl status "$id")"
check "the run concludes success" test "$(runnerctl status --json "$id" | jq -r .conclusion)" = success
check "its status is the same as an undisturbed run's (run $ref)" same_status "$ref" "$id"
check "the step never got a signal" test ! -e $marks/steady.signals
runnerctl logs "$id" build 1 >"$work/steady.log"
check "the step's log is complete, byte for byte" cmp -s "$work/steady.log" <(seq 1 40 | sed 's/^/line /')
check "the journal says the agent took the run over" \
        bash -c 'journalctl --sync; journalctl -o json RUNNER_EVENT=agent-readopted | jq -se "map(select(.RUNNER_STEPS == \"1\")) | length >= 1"'

cat >"$work/window-free.yml" <<YML
name: quick
jobs:
  only:
    steps:
      - run: echo quick
YML

# ---- 1b. the crash window between a step's start and the save that records it ----
# The agent dies after step 1 exited and step 2 started, before run-state.json said so: the next agent
# resumes from a state in which step 1 still runs, learns its exit from the exit status runner-step
# recorded, and the core decides to start step 2 again. Made deterministic: the agent is frozen
# (SIGSTOP) once it has recorded step 2's entry as running, the run's state files are put back to the
# copies taken while step 1 ran (what the disk holds when the agent dies before the save), and then it
# is SIGKILLed.
cat >"$work/window.yml" <<YML
name: window
jobs:
  w:
    steps:
      - run: |
          touch $marks/win.s1
          while [ ! -e $marks/win.go1 ]; do sleep 0.05; done
      - id: two
        run: |
          echo \$\$ >> $marks/win.s2
          while [ ! -e $marks/win.go2 ]; do sleep 0.05; done
          echo "starts=\$(wc -l < $marks/win.s2)" >> "\$GITHUB_OUTPUT"
YML
# freeze_in_window: submits window.yml and leaves the agent frozen in the window; sets id and win_pid.
freeze_in_window() {
        local dir
        rm -f $marks/win.*
        id=$(runnerctl run "$work/window.yml")
        dir=/var/lib/runner-agent/runs/$id
        wait_for 30 test -e $marks/win.s1
        wait_for 10 jq -e '.jobs[0].steps[0].entry_running' "$dir/run-state.json"
        cp "$dir/run-state.json" "$dir/state.json" "$work/"
        touch $marks/win.go1
        wait_for 30 jq -e '.jobs[0].steps[1].entry_running' "$dir/run-state.json"
        win_pid=$(head -n1 $marks/win.s2)
        kill -STOP "$(agent_pid)"
        cp "$work/run-state.json" "$work/state.json" "$dir/"
}
freeze_in_window
check "the state on disk says step 1 still runs" \
        jq -e '.jobs[0].steps[0].status == "in_progress" and .jobs[0].steps[1].status == "queued"' \
        /var/lib/runner-agent/runs/$id/run-state.json
kill_agent
touch $marks/win.go2
wait_done 60 "$id"
state=$(runnerctl status --json "$id")
say "$(jq -c '{conclusion, steps: [.jobs[0].steps[] | {conclusion, message, outputs}]}' <<<"$state")"
check "descriptors kept: the run concludes success" test "$(jq -r .conclusion <<<"$state")" = success
check "step 2, started by the dead agent, was taken over and never started again" \
        test "$(jq -r '.jobs[0].steps[1].outputs.starts' <<<"$state"):$(wc -l <$marks/win.s2)" = 1:1

# The same window when systemd did not keep the descriptors (the service failed rather than
# restarted): what is left of step 2 is killed and it starts afresh.
mkdir -p "$dropin"
printf '[Service]\nRestart=no\n' >"$dropin/50-test-restart.conf"
systemctl daemon-reload
freeze_in_window
systemctl kill --kill-who=main --signal=SIGKILL runner-agent
wait_for 10 bash -c '! systemctl is-active -q runner-agent'
rm -f "$dropin/50-test-restart.conf"
systemctl daemon-reload
systemctl start runner-agent
wait_for 30 bash -c "[[ \$(wc -l <$marks/win.s2) -ge 2 ]]"
touch $marks/win.go2
wait_done 60 "$id"
state=$(runnerctl status --json "$id")
say "$(jq -c '{conclusion, steps: [.jobs[0].steps[] | {conclusion, message, outputs}]}' <<<"$state")"
check "descriptors lost: the run concludes success" test "$(jq -r .conclusion <<<"$state")" = success
check "step 2 started afresh, once" test "$(jq -r '.jobs[0].steps[1].outputs.starts' <<<"$state")" = 2
check "its first start (PID $win_pid) was killed" bash -c '! kill -0 '"$win_pid"
check "no process of the run is left" test -z "$(live_runner_processes)"

# ---- 2. SIGKILL 2 s into a cancellation: the escalation keeps its schedule ----
cat >"$work/stubborn.yml" <<YML
name: stubborn
jobs:
  kill:
    steps:
      - name: ignores SIGINT and SIGTERM
        run: |
          trap 'echo \$EPOCHREALTIME > $marks/kill.int' INT
          trap 'echo \$EPOCHREALTIME > $marks/kill.term' TERM
          touch $marks/kill.ready
          while :; do echo \$EPOCHREALTIME >> $marks/kill.beat; sleep 0.005; done
      - if: always()
        run: echo "cleanup ran"
YML
id=$(runnerctl run "$work/stubborn.yml")
wait_for 30 test -e $marks/kill.ready
runnerctl cancel "$id" >/dev/null
wait_for 10 test -s $marks/kill.int
# 2 s after the SIGINT as the step saw it (a time, not a guess: the loop ends when it has passed).
until (($(ms_since $marks/kill.int) >= 2000)); do
        sleep 0.02
done
kill_agent
wait_done 60 "$id"
term_ms=$(ms_between $marks/kill.int $marks/kill.term)
last_ms=$(ms_between $marks/kill.term $marks/kill.beat)
check "SIGTERM reached the step ${term_ms} ms after SIGINT, across the agent's death (7500 ± 100)" \
        within "$term_ms" 7400 7600
check "its last sign of life was ${last_ms} ms after SIGTERM (kill at 2500, ± 100)" within "$last_ms" 2350 2600
check "no process of the step survived" test -z "$(live_runner_processes)"
state=$(runnerctl status --json "$id")
check "the step concludes cancelled" test "$(jq -r '.jobs[0].steps[0].conclusion' <<<"$state")" = cancelled
check "its always() step ran" test "$(jq -r '.jobs[0].steps[1].conclusion' <<<"$state")" = success
timeline=$(events "$id" | jq -r '.[].RUNNER_EVENT' | tr '\n' ' ')
say "timeline: $timeline"
check "the timeline has the request, SIGINT, SIGTERM and the kill, in order" \
        grep -Eq 'cancel-requested .*interrupt .*terminate .*kill ' <<<"$timeline"
overdue=$(journalctl -o json RUNNER_EVENT=agent-readopted | jq -s '.[-1].RUNNER_OVERDUE | tonumber')
check "the take-over found no stage overdue (the agent was back within 7.5 s): $overdue" test "$overdue" -eq 0

# ---- 2b. a stage that fell due while no agent ran is carried out on its return, and the journal
# says so; the kill keeps the original schedule ----
# A slow restart: systemd brings the agent back 8.5 s after it died, keeping its descriptor store
# meanwhile, as it does for Restart= (a stopped or failed service loses it).
mkdir -p "$dropin"
printf '[Service]\nRestartSec=8500ms\n' >"$dropin/50-test-restart.conf"
systemctl daemon-reload
rm -f $marks/kill.ready $marks/kill.int $marks/kill.term $marks/kill.beat
id=$(runnerctl run "$work/stubborn.yml")
wait_for 30 test -e $marks/kill.ready
runnerctl cancel "$id" >/dev/null
wait_for 10 test -s $marks/kill.int
systemctl kill --kill-who=main --signal=SIGKILL runner-agent
wait_done 60 "$id"
rm -f "$dropin/50-test-restart.conf"
systemctl daemon-reload
term_ms=$(ms_between $marks/kill.int $marks/kill.term)
last_ms=$(ms_between $marks/kill.int $marks/kill.beat)
# When the agent was back: its take-over's journal entry. How long systemd takes to start it again on a
# busy machine is not the agent's; the SIGTERM follows its return, not a timer of its own.
back_us=$(journalctl -o json RUNNER_EVENT=agent-readopted | jq -rs '.[-1].__REALTIME_TIMESTAMP')
back_ms=$(awk -v b="$back_us" -v i="$(cat $marks/kill.int)" 'BEGIN { printf "%d", b / 1000 - i * 1000 }')
check "the overdue SIGTERM reached the step on the agent's return, ${term_ms} ms after SIGINT (not before 8500; the agent was back at ${back_ms} ms, within 500 ms of that)" \
        bash -c '(($1 >= 8500 && $1 <= $2 + 500 && $1 >= $2 - 500))' _ "$term_ms" "$back_ms"
check "the kill kept its original time: last sign of life ${last_ms} ms after SIGINT (10000, -150 +100)" \
        within "$last_ms" 9850 10100
check "no process of the step survived" test -z "$(live_runner_processes)"
overdue=$(journalctl -o json RUNNER_EVENT=agent-readopted | jq -s '.[-1].RUNNER_OVERDUE | tonumber')
away=$(journalctl -o json RUNNER_EVENT=agent-readopted | jq -rs '.[-1].RUNNER_AWAY_USEC // "" ')
check "the journal says 1 stage fell due while the agent was away (says $overdue), and for how long (${away} µs)" \
        test "$overdue" -eq 1 -a -n "$away"

# ---- 3. systemctl restart in the middle of a three-job workflow ----
cat >"$work/three.yml" <<YML
name: three
jobs:
  a:
    outputs:
      v: \${{ steps.s.outputs.v }}
    steps:
      - id: s
        run: |
          trap 'echo INT >> $marks/three.signals' INT
          trap 'echo TERM >> $marks/three.signals' TERM
          touch $marks/three.ready
          sleep 2
          echo "v=from-a" >> "\$GITHUB_OUTPUT"
  b:
    steps:
      - run: |
          trap 'echo INT >> $marks/three.signals' INT
          trap 'echo TERM >> $marks/three.signals' TERM
          sleep 2.5; echo b
  c:
    needs: [a, b]
    steps:
      - run: echo "c got \${{ needs.a.outputs.v }}"
YML
ref=$(runnerctl run --wait "$work/three.yml" 2>/dev/null | head -n1)
rm -f $marks/three.ready $marks/three.signals
id=$(runnerctl run "$work/three.yml")
wait_for 30 test -e $marks/three.ready
pid_before=$(agent_pid)
systemctl restart runner-agent
check "systemctl restart brought up a new agent" test "$(agent_pid)" != "$pid_before"
wait_done 60 "$id"
check "no step got a signal" test ! -e $marks/three.signals
check "every job concludes as without the restart (run $ref)" same_status "$ref" "$id"
check "the journal says the agent handed over" \
        bash -c 'journalctl --sync; journalctl RUNNER_EVENT=agent-handed-over -o cat | grep -q "go on"'

# ---- 4. a run from an earlier boot is not taken over ----
mkdir -p "$dropin"
printf '[Service]\nRestart=no\n' >"$dropin/50-test-restart.conf"
systemctl daemon-reload
rm -f $marks/steady.ready
id=$(runnerctl run "$work/steady.yml")
wait_for 30 test -e $marks/steady.ready
systemctl kill --kill-who=main --signal=SIGKILL runner-agent
wait_for 10 bash -c '! systemctl is-active -q runner-agent'
state_file=/var/lib/runner-agent/runs/$id/run-state.json
jq -c '.boot_id = "00000000000000000000000000000000"' "$state_file" >"$state_file.new" && mv "$state_file.new" "$state_file"
rm -f "$dropin/50-test-restart.conf"
systemctl daemon-reload
systemctl start runner-agent
wait_done 30 "$id"
state=$(runnerctl status --json "$id")
say "$(jq -c '{conclusion, jobs: [.jobs[] | {id, conclusion, message}]}' <<<"$state")"
check "the run from another boot concludes cancelled" test "$(jq -r .conclusion <<<"$state")" = cancelled
check "with a message saying why" bash -c 'jq -e "[.. | strings | select(test(\"boot ID\"))] | length > 0" <<<"$1"' _ "$state"
check "and its processes were killed" test -z "$(live_runner_processes)"

# ---- 5. systemctl stop still cancels every run, with the sequence ----
rm -f $marks/kill.ready $marks/kill.int $marks/kill.term
id=$(runnerctl run "$work/stubborn.yml")
wait_for 30 test -e $marks/kill.ready
systemctl stop runner-agent
check "after systemctl stop, the run is cancelled" \
        test "$(jq -r .conclusion /var/lib/runner-agent/runs/$id/state.json)" = cancelled
check "its step got SIGINT first" test -e $marks/kill.int
check "no process of it is left" test -z "$(live_runner_processes)"
journalctl --sync
check "cancel-requested says why: RUNNER_CANCEL_REASON=agent-stop" \
        bash -c 'journalctl -q RUNNER_RUN_ID="$1" RUNNER_EVENT=cancel-requested -o json | jq -e -s "length == 1 and .[0].RUNNER_CANCEL_REASON == \"agent-stop\""' _ "$id"
systemctl start runner-agent

# ---- 6. workspaces a dead agent left: removed at start-up, unless an unfinished job owns them ----
# A job's workspace is removed on the remover after the job ends; an agent SIGKILLed after the run's
# state was saved but before rm(1) finished leaves it behind, as written here by hand (the state is
# what that agent saved: the run completed), and beside it one of a run no agent knows. The step's
# user controls what is inside: a symlink out of it and a mount in it must not lead the removal out.
rm -f $marks/steady.ready
live=$(runnerctl run "$work/steady.yml")
wait_for 30 test -e $marks/steady.ready
done_id=$(runnerctl run --wait "$work/window-free.yml" 2>/dev/null | head -n1)
ws=/var/lib/runner-agent/work
victim=/srv/test-restart-victim
mkdir -p "$victim" && echo keep >"$victim/file"
mkdir -p "$ws/r$done_id/only/deep/er" "$ws/r999999/x" "$ws/r$done_id/only/mnt"
echo left >"$ws/r$done_id/only/deep/er/file"
echo left >"$ws/r999999/x/file"
ln -s "$victim" "$ws/r$done_id/only/escape"
ln -s "$victim/file" "$ws/r$done_id/only/escape-file"
chown -R runner: "$ws/r$done_id/only"
mount -t tmpfs tmpfs "$ws/r$done_id/only/mnt" && echo mounted >"$ws/r$done_id/only/mnt/file"
kill_agent
wait_for 30 bash -c "[[ ! -e $ws/r999999 && ! -e $ws/r$done_id/only/deep && ! -L $ws/r$done_id/only/escape ]]"
check "the concluded run's leftover workspace was removed" test ! -e "$ws/r$done_id/only/deep"
check "and the unknown run's" test ! -e "$ws/r999999"
check "the removal did not follow the symlinks out of it" cmp -s "$victim/file" <(echo keep)
check "nor cross into a mount below it" cmp -s "$ws/r$done_id/only/mnt/file" <(echo mounted)
check "the running run's workspace is left alone" test -d "$ws/r$live/build"
umount "$ws/r$done_id/only/mnt"
rm -rf "$victim" "$ws/r$done_id"
wait_done 60 "$live"
check "and that run concludes success" test "$(runnerctl status --json "$live" | jq -r .conclusion)" = success

# ---- 7. a call pending when the agent hands over is answered busy, not dropped ----
# Made deterministic: the agent is frozen while runnerctl's call is delivered to it (its socket holds
# the message), then the bus daemon is frozen, so that the agent's question to the bus about who the
# caller is stays unanswered; the restart wakes the agent (systemd follows SIGTERM with SIGCONT), which
# reads the call, asks, decides to hand over and exits; the bus daemon is thawed once it has.
recvq() { ss -xpn | awk -v p="pid=$1," 'index($0, p) { q += $3 } END { print q + 0 }'; }
old=$(agent_pid)
busd=$(systemctl show -P MainPID dbus.service)
kill -STOP "$old"
runnerctl status "$live" >"$work/busy.out" 2>"$work/busy.err" &
caller=$!
wait_for 10 bash -c "(( \$(ss -xpn | awk -v p='pid=$old,' 'index(\$0, p) { q += \$3 } END { print q + 0 }') > 0 ))"
say "the frozen agent holds $(recvq "$old") bytes unread"
kill -STOP "$busd"
systemctl restart --no-block runner-agent
wait_for 30 bash -c "! kill -0 $old"
kill -CONT "$busd"
wait "$caller"
rc=$?
say "runnerctl said: $(cat "$work/busy.err")"
check "runnerctl's call pending at the hand-over was answered busy, and it says so (exit $rc)" \
        grep -qx "runnerctl: runner-agent is restarting; try again in a moment." "$work/busy.err"
wait_for 30 systemctl is-active -q runner-agent
check "the next agent answers" runnerctl status "$live"

echo "1..$n"
[[ $failed -eq 0 ]]
