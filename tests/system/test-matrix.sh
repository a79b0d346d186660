#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Matrix jobs end to end (README, "Matrix jobs"), inside the throwaway container: a 3×2 matrix where one
# job fails while its five siblings run steps that ignore SIGINT. fail-fast cancels the siblings with the
# cancellation sequence, as the steps themselves see it: SIGINT at once, SIGTERM 7500 ms later, the kill
# 2500 ms after that; their always() steps run; nothing survives; the journal says fail-fast and names
# the failed job. TAP output.
#
#   test-matrix.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-matrix
trap 'rm -rf "$work" "$marks"; rm -f /etc/runner-agent/agent.conf.d/40-test-parallel.conf' EXIT

install_agent "$build"
side_by_side 40-test-parallel.conf

state() { runnerctl status --json "$1"; }
events() { journalctl --sync; runnerctl events --json "$1"; }
all_ready() { test "$(ls $marks/*.ready 2>/dev/null | wc -l)" -eq 5; }

# The failing job waits until its five siblings run, then fails; each sibling stamps each signal it sees
# ($EPOCHREALTIME, no fork) and keeps a heartbeat until it is killed.
cat >"$work/matrix.yml" <<YML
name: matrix
jobs:
  build:
    strategy:
      matrix:
        v: [1, 2, 3]
        os: [linux, mac]
    steps:
      - name: work
        run: |
          c=\${{ matrix.v }}-\${{ matrix.os }}
          if [ "\$c" = 2-mac ]; then
                  while [ "\$(ls $marks/*.ready | wc -l)" -lt 5 ]; do sleep 0.05; done
                  echo \$EPOCHREALTIME > $marks/failed
                  exit 1
          fi
          trap "echo \\\$EPOCHREALTIME > $marks/\$c.int" INT
          trap "echo \\\$EPOCHREALTIME > $marks/\$c.term" TERM
          touch $marks/\$c.ready
          while :; do echo \$EPOCHREALTIME >> $marks/\$c.beat; sleep 0.005 & wait \$! || true; done
      - run: echo "unconditioned step of \${{ matrix.v }}-\${{ matrix.os }}"
      - if: always()
        run: touch $marks/\${{ matrix.v }}-\${{ matrix.os }}.cleanup
YML

check "validate accepts the matrix" runnerctl validate "$work/matrix.yml"
id=$(runnerctl run "$work/matrix.yml")
check "run $id submitted" test -n "$id"
st=$(state "$id")
check "status: six jobs of build, named by their combinations in order" \
        jq -e '[.jobs[].name] == ["build (1, linux)", "build (1, mac)", "build (2, linux)", "build (2, mac)", "build (3, linux)", "build (3, mac)"]' <<<"$st"
check "status: each has its own slice" jq -e '[.jobs[].slice] | unique | length == 6' <<<"$st"
wait_for 30 all_ready
check "the five siblings run" all_ready
wait_for 40 completed "$id"
check "the run completed" completed "$id"

# The stages as the agent took them (journal: RUNNER_ELAPSED_USEC into the job's cancellation, and the
# kill's wall-clock time) are exact; what a step saw lags by however long a busy machine takes to run
# its trap, so its SIGTERM stamp is checked -50/+400 ms, and its last sign of life against the
# agent's kill: nothing after it, and alive until shortly before it.
ev=$(events "$id")
stage() { # stage EVENT JOB-NAME FIELD
        jq -r --arg e "$1" --arg j "$2" --arg f "$3" \
                '[.[] | select(.RUNNER_EVENT == $e and .RUNNER_JOB_NAME == $j) | .[$f] | tonumber] | first // empty' <<<"$ev"
}
for c in 1-linux 1-mac 2-linux 3-linux 3-mac; do
        name="build (${c%-*}, ${c#*-})"
        int=$(ms_between $marks/failed $marks/$c.int)
        int_term=$(ms_between $marks/$c.int $marks/$c.term)
        a_int=$(stage interrupt "$name" RUNNER_ELAPSED_USEC) a_term=$(stage terminate "$name" RUNNER_ELAPSED_USEC)
        a_kill=$(stage kill "$name" RUNNER_ELAPSED_USEC) kill_rt=$(stage kill "$name" realtime_usec)
        a_term_ms=$(((a_term - a_int) / 1000)) a_kill_ms=$(((a_kill - a_term) / 1000))
        beat_to_kill=$(awk -v k="$kill_rt" '{ t = $1 } END { printf "%d\n", (k / 1e6 - t) * 1000 }' $marks/$c.beat)
        say "$c: SIGINT $int ms after the failure, SIGTERM $int_term ms after SIGINT (agent: $a_term_ms), kill $a_kill_ms ms after SIGTERM (agent), last beat $beat_to_kill ms before the kill"
        check "$c got SIGINT at once after the failure ($int ms, under 1500)" within "$int" 0 1500
        check "$c: the agent sent SIGTERM 7500 ms after SIGINT ($a_term_ms ms, ±50)" within "$a_term_ms" 7450 7550
        check "$c: the agent killed 2500 ms after SIGTERM ($a_kill_ms ms, ±50)" within "$a_kill_ms" 2450 2550
        check "$c got SIGTERM 7500 ms after SIGINT as it saw them ($int_term ms, -50/+400)" within "$int_term" 7450 7900
        check "$c lived until the kill and not after it (last sign of life $beat_to_kill ms before it, -50/+300)" \
                within "$beat_to_kill" -50 300
        check "$c ran its always() step" test -e $marks/$c.cleanup
done
check "0 survivors" test -z "$(live_runner_processes)"

st=$(state "$id")
check "status: build (2, mac) failed, its five siblings cancelled, the run failed" \
        jq -e '[.jobs[].conclusion] == ["cancelled", "cancelled", "cancelled", "failure", "cancelled", "cancelled"] and .conclusion == "failure"' <<<"$st"
check "status: each sibling's work step cancelled, the next skipped, the always() one ran" \
        jq -e '[.jobs[] | select(.conclusion == "cancelled") | [.steps[].conclusion]] | unique == [["cancelled", "skipped", "success"]]' <<<"$st"
logs=$(runnerctl logs "$id")
check "no unconditioned step ran after the cancel" bash -c '! grep -q "unconditioned step" <<<"$1"' _ "$logs"

ev=$(events "$id")
check "journal: five job-cancelled events say fail-fast and name the failed job" \
        jq -e '[.[] | select(.RUNNER_EVENT == "job-cancelled" and (.RUNNER_REASON | test("fail-fast")) and (.RUNNER_REASON | contains("\"build (2, mac)\"")))] | length == 5' <<<"$ev"
check "journal: the events name the instance they are about" \
        jq -e '[.[] | select(.RUNNER_EVENT == "job-cancelled") | .RUNNER_JOB_NAME] | sort == ["build (1, linux)", "build (1, mac)", "build (2, linux)", "build (3, linux)", "build (3, mac)"]' <<<"$ev"
check "journal: no run cancel was requested" jq -e 'all(.[]; .RUNNER_EVENT != "cancel-requested")' <<<"$ev"
check "journal: each job-cancelled says RUNNER_CANCEL_REASON=fail-fast, RUNNER_CANCEL_CAUSE=build (2, mac)" \
        jq -e '[.[] | select(.RUNNER_EVENT == "job-cancelled") | [.RUNNER_CANCEL_REASON, .RUNNER_CANCEL_CAUSE]] | unique == [["fail-fast", "build (2, mac)"]]' <<<"$ev"
check "status --json: the siblings' cancel_reason and cancel_cause, none for the run" \
        jq -e '([.jobs[] | select(.conclusion == "cancelled") | [.cancel_reason, .cancel_cause]] | unique == [["fail-fast", "build (2, mac)"]]) and .cancel_reason == null' <<<"$st"
table=$(runnerctl status "$id")
say "$table"
check "status shows the matrix jobs by name and why the siblings were cancelled" \
        bash -c 'grep -q "build (1, linux)" <<<"$1" && grep -q "cancelled (reason: fail-fast, caused by build (2, mac))" <<<"$1"' _ "$table"
check "runnerctl events shows the reason" bash -c 'runnerctl events "$1" | grep -q "(reason: fail-fast, caused by build (2, mac))"' _ "$id"
check "runnerctl events names each job of the matrix by instance and name" \
        bash -c 'runnerctl events "$1" | grep -q "job build #1 (build (1, linux)): cancellation message sent"' _ "$id"

# ---- 2. a matrix run taken over by a new agent: its instances, names and fail-fast carry on ----
cat >"$work/adopt.yml" <<YML
name: adopt
jobs:
  m:
    strategy:
      matrix:
        k: [a, b]
    steps:
      - run: |
          trap "echo \\\$EPOCHREALTIME > $marks/adopt-\${{ matrix.k }}.int; exit 0" INT
          touch $marks/adopt-\${{ matrix.k }}.ready
          while [ ! -e $marks/adopt.release ]; do sleep 0.05 & wait \$! || true; done
          [ \${{ matrix.k }} = b ] && exit 1
          while :; do sleep 0.05 & wait \$! || true; done
YML
id=$(runnerctl run "$work/adopt.yml")
check "run $id submitted" test -n "$id"
wait_for 30 test -e $marks/adopt-a.ready -a -e $marks/adopt-b.ready
old=$(systemctl show -P MainPID runner-agent)
systemctl kill --kill-who=main --signal=SIGKILL runner-agent
wait_for 30 bash -c '[[ $(systemctl show -P MainPID runner-agent) != 0 && $(systemctl show -P MainPID runner-agent) != '"$old"' ]] && systemctl is-active -q runner-agent'
check "a new agent took over" systemctl is-active -q runner-agent
st=$(state "$id")
check "status after the takeover: the two jobs of the matrix, by name, still in progress" \
        jq -e '[.jobs[] | [.name, .status]] == [["m (a)", "in_progress"], ["m (b)", "in_progress"]]' <<<"$st"
touch $marks/adopt.release
wait_for 40 completed "$id"
st=$(state "$id")
check "after the takeover, m (b) failed and fail-fast cancelled m (a)" \
        jq -e '[.jobs[] | [.name, .conclusion, .cancel_reason, .cancel_cause]] == [["m (a)", "cancelled", "fail-fast", "m (b)"], ["m (b)", "failure", null, null]]' <<<"$st"
check "m (a) saw SIGINT" test -e $marks/adopt-a.int
check "0 survivors" test -z "$(live_runner_processes)"

echo "1..$n"
exit $((failed > 0))
