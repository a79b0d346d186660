#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Concurrency groups end to end (README, "Concurrency groups"), inside the throwaway container:
#  1. run 1 in group deploy-${{ github.ref }} runs a step that ignores SIGINT; run 2 in the same group
#     (spelt in capitals) with cancel-in-progress: true is pending until run 1 has concluded cancelled by
#     the cancellation sequence (SIGINT at once, SIGTERM 7500 ms later, the kill 2500 ms after that), then
#     runs; the journal says concurrency and names run 2;
#  2. a newer pending run replaces an older one, which concludes cancelled with GitHub's message, nothing
#     of it started; runnerctl cancel of a pending run concludes it cancelled; the next one runs;
#  3. a job-level group evaluated from needs, with cancel-in-progress: the job of a newer run cancels the
#     job of the older one and waits for it;
#  4. a restart of the agent while a run is pending: the group's holder and its pending run carry on;
#  5. a matrix from an expression (fromJSON of a needs output), expanded when its job is ready.
# TAP output.
#
#   test-concurrency.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-concurrency
trap 'rm -rf "$work" "$marks"; rm -f /etc/runner-agent/agent.conf.d/40-test-parallel.conf' EXIT

install_agent "$build"
side_by_side 40-test-parallel.conf

state() { runnerctl status --json "$1"; }
events() { journalctl --sync; runnerctl events --json "$1"; }
pending() { state "$1" | jq -e '.status == "queued" and .concurrency.pending == true'; }
job_pending() { state "$1" | jq -e --arg j "$2" '.jobs[] | select(.id == $j) | .status == "queued" and .concurrency.pending == true'; }

# ---- 1. cancel-in-progress: the newer run cancels the one in progress with the sequence, then runs ----
cat >"$work/deploy1.yml" <<YML
name: deploy
concurrency: deploy-\${{ github.ref }}
jobs:
  deploy:
    steps:
      - run: |
          trap "echo \\\$EPOCHREALTIME > $marks/r1.int" INT
          trap "echo \\\$EPOCHREALTIME > $marks/r1.term" TERM
          touch $marks/r1.ready
          while :; do echo \$EPOCHREALTIME >> $marks/r1.beat; sleep 0.005 & wait \$! || true; done
YML
cat >"$work/deploy2.yml" <<YML
name: deploy
concurrency:
  group: DEPLOY-\${{ github.ref }}
  cancel-in-progress: \${{ true }}
jobs:
  deploy:
    steps:
      - run: echo \$EPOCHREALTIME > $marks/r2.started
YML
check "validate accepts both" runnerctl validate "$work/deploy1.yml" "$work/deploy2.yml"
id1=$(runnerctl run "$work/deploy1.yml")
check "run $id1 submitted" test -n "$id1"
wait_for 30 test -e $marks/r1.ready
check "run $id1 holds its group and runs" test -e $marks/r1.ready
check "status: run $id1 in group deploy-, not pending" \
        jq -e '.concurrency == {"group": "deploy-", "cancel_in_progress": false, "pending": false}' <<<"$(state "$id1")"
echo $EPOCHREALTIME >$marks/submit2
id2=$(runnerctl run "$work/deploy2.yml")
check "run $id2 submitted" test -n "$id2"
wait_for 10 pending "$id2"
st=$(state "$id2")
check "status --json: run $id2 is queued, pending in group DEPLOY-, nothing started" \
        jq -e '.status == "queued" and .concurrency == {"group": "DEPLOY-", "cancel_in_progress": true, "pending": true} and .started_at == null and [.jobs[].status] == ["queued"]' <<<"$st"
table=$(runnerctl status "$id2")
say "$table"
check "status shows run $id2 pending with its group" grep -q "pending: waits for concurrency group 'DEPLOY-'" <<<"$table"
check "runnerctl list shows run $id2 pending" bash -c 'runnerctl list | grep -Eq "^$1 +pending "' _ "$id2"
wait_for 5 test -e $marks/r1.int
sleep 3
check "run $id2 still pending while run $id1 is being cancelled" pending "$id2"
check "run $id2's step has not started" test ! -e $marks/r2.started
wait_for 30 completed "$id1"
wait_for 30 completed "$id2"
st1=$(state "$id1") st2=$(state "$id2")
int=$(ms_between $marks/submit2 $marks/r1.int)
int_term=$(ms_between $marks/r1.int $marks/r1.term)
last_beat=$(ms_between $marks/r1.term $marks/r1.beat)
say "run $id1: SIGINT $int ms after run $id2 was submitted, SIGTERM $int_term ms after SIGINT, last beat $last_beat ms after SIGTERM"
ev=$(events "$id1")
# The agent's own times are exact (journal: RUNNER_ELAPSED_USEC into the step's cancellation); what the
# step saw lags by however long a busy machine takes to run its trap, so that side is checked wider.
elapsed() { jq -r --arg e "$1" '[.[] | select(.RUNNER_EVENT == $e) | .RUNNER_ELAPSED_USEC | tonumber / 1000 | floor] | first // empty' <<<"$ev"; }
say "journal: SIGINT at $(elapsed interrupt) ms, SIGTERM at $(elapsed terminate) ms, kill at $(elapsed kill) ms into the cancellation"
sequence_times() { within "$1" 0 50 && within "$2" 7450 7550 && within "$3" 9950 10050; }
check "journal: SIGINT at once, SIGTERM 7500 ms later, the kill 2500 ms after that (±50)" \
        sequence_times "$(elapsed interrupt)" "$(elapsed terminate)" "$(elapsed kill)"
check "run $id1's step got SIGINT at once ($int ms, under 1500)" within "$int" 0 1500
check "run $id1's step got SIGTERM 7500 ms after SIGINT ($int_term ms, -50/+400)" within "$int_term" 7450 7900
check "run $id1's step was killed 2500 ms after SIGTERM (last sign of life $last_beat ms after, -500/+100)" within "$last_beat" 2000 2600
check "run $id1 concluded cancelled, reason concurrency, caused by run $id2" \
        jq -e --arg c "$id2" '.conclusion == "cancelled" and .cancel_reason == "concurrency" and .cancel_cause == $c and .cancelled_by == "run \($c)"' <<<"$st1"
check "run $id2 started only after run $id1 had concluded, and succeeded" \
        jq -e --argjson a "$st1" '.conclusion == "success" and .started_at >= $a.completed_at and .concurrency.pending == false' <<<"$st2"
check "run $id2's step ran after run $id1's last sign of life" within "$(ms_between $marks/r1.beat $marks/r2.started)" 0 100000
check "0 survivors" test -z "$(live_runner_processes)"
check "journal: run $id1's cancel-requested says RUNNER_CANCEL_REASON=concurrency and names run $id2" \
        jq -e --arg c "$id2" '[.[] | select(.RUNNER_EVENT == "cancel-requested") | [.RUNNER_CANCEL_REASON, .RUNNER_CANCEL_CAUSE]] == [["concurrency", $c]]' <<<"$ev"
check "runnerctl events shows the reason and the newer run" \
        bash -c 'runnerctl events "$1" | grep -q "(reason: concurrency, caused by run $2)"' _ "$id1" "$id2"
check "runnerctl status shows why run $id1 was cancelled" \
        bash -c 'runnerctl status "$1" | grep -q "cancelled by run $2 (reason: concurrency, caused by run $2)"' _ "$id1" "$id2"
ev=$(events "$id2")
check "journal: run $id2 was pending in DEPLOY-, then acquired it" \
        jq -e '[.[] | select(.RUNNER_EVENT | startswith("concurrency-")) | .RUNNER_EVENT] == ["concurrency-pending", "concurrency-acquired"]' <<<"$ev"

# ---- 2. a newer pending run replaces an older one; a pending run cancelled ----
cat >"$work/hold.yml" <<YML
concurrency: replace
jobs:
  hold:
    steps:
      - run: |
          touch $marks/hold.ready
          while [ ! -e $marks/hold.release ]; do sleep 0.05; done
YML
cat >"$work/next.yml" <<YML
concurrency: replace
jobs:
  next:
    steps:
      - run: touch $marks/next-\${{ github.run_id }}
YML
id4=$(runnerctl run "$work/hold.yml")
wait_for 30 test -e $marks/hold.ready
id5=$(runnerctl run "$work/next.yml")
wait_for 10 pending "$id5"
check "run $id5 pending behind run $id4" pending "$id5"
id6=$(runnerctl run "$work/next.yml")
wait_for 10 completed "$id5"
st5=$(state "$id5")
say "$(runnerctl status "$id5")"
check "run $id5 replaced: cancelled with GitHub's message, reason concurrency, caused by run $id6" \
        jq -e --arg c "$id6" '.conclusion == "cancelled" and .cancel_reason == "concurrency" and .cancel_cause == $c and [.jobs[] | [.conclusion, .message, .cancel_reason]] == [["cancelled", "Canceling since a higher priority waiting request for '"'"'replace'"'"' exists", "concurrency"]]' <<<"$st5"
check "run $id5: nothing of it started" jq -e '[.jobs[] | .started_at] == [null] and [.jobs[].steps[] | [.conclusion, .started_at]] == [["skipped", null]]' <<<"$st5"
check "run $id5's step left no mark" test ! -e $marks/next-$id5
check "run $id6 pending now" pending "$id6"
runnerctl cancel "$id6" >/dev/null
wait_for 10 completed "$id6"
check "runnerctl cancel of pending run $id6: cancelled, reason user, nothing started" \
        jq -e '.conclusion == "cancelled" and .cancel_reason == "user" and [.jobs[] | [.conclusion, .started_at]] == [["cancelled", null]] and [.jobs[].steps[] | [.conclusion, .started_at]] == [["skipped", null]]' <<<"$(state "$id6")"
id7=$(runnerctl run "$work/next.yml")
wait_for 10 pending "$id7"
check "run $id7 pending behind run $id4" pending "$id7"
touch $marks/hold.release
wait_for 30 completed "$id7"
check "run $id4 succeeded, then run $id7 ran and succeeded" \
        bash -c 'runnerctl status --json "$1" | jq -e ".conclusion == \"success\"" && runnerctl status --json "$2" | jq -e ".conclusion == \"success\"" && test -e "$3"' _ "$id4" "$id7" "$marks/next-$id7"

# ---- 3. a job-level group from needs, with cancel-in-progress ----
cat >"$work/job.yml" <<YML
jobs:
  prep:
    outputs:
      env: \${{ steps.e.outputs.env }}
    steps:
      - id: e
        run: echo env=prod >> \$GITHUB_OUTPUT
  ship:
    needs: prep
    concurrency:
      group: ship-\${{ needs.prep.outputs.env }}
      cancel-in-progress: true
    steps:
      - run: |
          trap "touch $marks/ship-\${{ github.run_id }}.int; exit 0" INT
          touch $marks/ship-\${{ github.run_id }}.ready
          while [ ! -e $marks/ship.release ]; do sleep 0.05 & wait \$! || true; done
YML
id8=$(runnerctl run "$work/job.yml")
wait_for 30 test -e $marks/ship-$id8.ready
check "run $id8's job ship holds ship-prod" \
        jq -e '.jobs[1].concurrency == {"group": "ship-prod", "cancel_in_progress": true, "pending": false}' <<<"$(state "$id8")"
id9=$(runnerctl run "$work/job.yml")
wait_for 30 completed "$id8"
st8=$(state "$id8")
say "$(runnerctl status "$id8")"
check "run $id8's ship was cancelled (SIGINT), reason concurrency, caused by run $id9" \
        bash -c 'test -e "$2" && jq -e --arg c "$1" ".jobs[1] | .conclusion == \"cancelled\" and .cancel_reason == \"concurrency\" and .cancel_cause == \$c" <<<"$3"' _ "$id9" "$marks/ship-$id8.int" "$st8"
check "run $id8 concluded cancelled, no run cancel requested" jq -e '.conclusion == "cancelled" and .cancel_reason == null' <<<"$st8"
check "status names the newer run" bash -c 'runnerctl status "$1" | grep -q "cancelled (reason: concurrency, caused by run $2)"' _ "$id8" "$id9"
ev=$(events "$id8")
check "journal: run $id8's job-cancelled says RUNNER_CANCEL_REASON=concurrency and names run $id9" \
        jq -e --arg c "$id9" '[.[] | select(.RUNNER_EVENT == "job-cancelled") | [.RUNNER_JOB, .RUNNER_CANCEL_REASON, .RUNNER_CANCEL_CAUSE]] == [["ship", "concurrency", $c]]' <<<"$ev"
wait_for 30 test -e $marks/ship-$id9.ready
check "run $id9's ship runs once run $id8's has concluded" test -e $marks/ship-$id9.ready
touch $marks/ship.release
wait_for 30 completed "$id9"
check "run $id9 succeeded" jq -e '.conclusion == "success"' <<<"$(state "$id9")"

# a job pending in its group counts as not started
rm -f $marks/ship.release
id10=$(runnerctl run "$work/job.yml")
wait_for 30 test -e $marks/ship-$id10.ready
cat >"$work/job-wait.yml" <<YML
jobs:
  prep:
    outputs:
      env: \${{ steps.e.outputs.env }}
    steps:
      - id: e
        run: echo env=prod >> \$GITHUB_OUTPUT
  ship:
    needs: prep
    concurrency: ship-\${{ needs.prep.outputs.env }}
    steps:
      - run: touch $marks/ship-wait-\${{ github.run_id }}
YML
id11=$(runnerctl run "$work/job-wait.yml")
wait_for 30 job_pending "$id11" ship
check "run $id11's job ship is queued, pending in ship-prod (without cancel-in-progress)" job_pending "$id11" ship
table=$(runnerctl status "$id11")
say "$table"
check "status shows the job pending with its group" grep -q "pending: waits for concurrency group 'ship-prod'" <<<"$table"
touch $marks/ship.release
wait_for 30 completed "$id11"
check "run $id10 succeeded, then run $id11's ship ran" \
        bash -c 'runnerctl status --json "$1" | jq -e ".conclusion == \"success\"" && runnerctl status --json "$2" | jq -e ".conclusion == \"success\"" && test -e "$3"' _ "$id10" "$id11" "$marks/ship-wait-$id11"

# ---- 4. a restart while a run is pending ----
rm -f $marks/hold.release $marks/hold.ready
id12=$(runnerctl run "$work/hold.yml")
wait_for 30 test -e $marks/hold.ready
id13=$(runnerctl run "$work/next.yml")
wait_for 10 pending "$id13"
check "run $id13 pending before the restart" pending "$id13"
systemctl restart runner-agent
check "the agent restarted" systemctl is-active -q runner-agent
check "run $id13 still pending after the restart" pending "$id13"
sleep 1
check "… and its step has not started" test ! -e $marks/next-$id13
touch $marks/hold.release
wait_for 30 completed "$id13"
check "after the restart run $id12 succeeded, then run $id13 ran and succeeded" \
        bash -c 'runnerctl status --json "$1" | jq -e ".conclusion == \"success\"" && runnerctl status --json "$2" | jq -e ".conclusion == \"success\"" && test -e "$3"' _ "$id12" "$id13" "$marks/next-$id13"

# ---- 5. a matrix from an expression: fromJSON of a needs output, expanded when the job is ready ----
cat >"$work/expr-matrix.yml" <<YML
jobs:
  plan:
    outputs:
      list: \${{ steps.p.outputs.list }}
    steps:
      - id: p
        run: echo 'list={"os":["linux","mac"],"v":[1,2],"include":[{"os":"mac","extra":"x"}]}' >> \$GITHUB_OUTPUT
  build:
    needs: plan
    strategy:
      matrix: \${{ fromJSON(needs.plan.outputs.list) }}
    steps:
      - run: echo "\${{ matrix.os }}-\${{ matrix.v }}-\${{ matrix.extra }} \${{ strategy.job-index }}/\${{ strategy.job-total }}" > $marks/m-\${{ matrix.os }}-\${{ matrix.v }}
  bad:
    needs: plan
    strategy:
      matrix:
        os: \${{ fromJSON('[]') }}
    steps:
      - run: touch $marks/bad
  after:
    needs: build
    steps:
      - run: touch $marks/after
YML
check "validate accepts the expression matrix" runnerctl validate "$work/expr-matrix.yml"
id14=$(runnerctl run "$work/expr-matrix.yml")
check "run $id14 submitted (no longer refused)" test -n "$id14"
wait_for 60 completed "$id14"
st=$(state "$id14")
say "$(runnerctl status "$id14")"
check "the matrix expanded from plan's output: four jobs of build by name, the first where it stood" \
        jq -e '[.jobs[] | select(.id == "build") | .name] == ["build (linux, 1)", "build (linux, 2)", "build (mac, 1)", "build (mac, 2)"] and .jobs[1].name == "build (linux, 1)"' <<<"$st"
check "each succeeded, in a slice of its own" \
        jq -e '[.jobs[] | select(.id == "build") | .conclusion] == ["success", "success", "success", "success"] and ([.jobs[].slice] | unique | length == 7)' <<<"$st"
check "the matrix and strategy contexts of the appended jobs" \
        bash -c 'grep -qx "mac-2-x 3/4" "$1/m-mac-2" && grep -qx "linux-1- 0/4" "$1/m-linux-1"' _ "$marks"
check "after ran once every job of the matrix had concluded" test -e $marks/after
check "an empty vector from an expression fails its job with the reason, nothing of it started" \
        jq -e '.jobs[] | select(.id == "bad") | .conclusion == "failure" and (.message | test("strategy.matrix: .*does not contain any values")) and .started_at == null' <<<"$st"
check "bad's step never ran" test ! -e $marks/bad
check "the run concluded failure (bad failed)" jq -e '.conclusion == "failure"' <<<"$st"

echo "1..$n"
exit $((failed > 0))
