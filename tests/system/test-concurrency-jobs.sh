#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Job-level concurrency groups within one run, where deciding for one job changes the run's jobs
# (README, "Concurrency groups"): job d enters group g held by job a, replacing job b pending there;
# b concluding cancelled makes job c (which needs b) ready, and c's matrix from ${{ }} is expanded,
# appending jobs to the run while the agent is still deciding for d. The agent goes on (no crash, no
# restart, no AddressSanitizer report when built with it), d is pending then runs, and the run
# concludes. TAP output.
#
#   test-concurrency-jobs.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-concurrency-jobs
trap 'rm -rf "$work" "$marks"; rm -f /etc/runner-agent/agent.conf.d/40-test-parallel.conf' EXIT

install_agent "$build"
side_by_side 40-test-parallel.conf
since=$(date '+%Y-%m-%d %H:%M:%S')
pid=$(systemctl show -P MainPID runner-agent)

cat >"$work/jobs.yml" <<YML
jobs:
  a:
    concurrency: g
    steps:
      - run: |
          touch $marks/a.started
          while [ ! -e $marks/a.go ]; do sleep 0.05; done
  b:
    concurrency: g
    steps:
      - run: touch $marks/b.started
  c:
    needs: b
    if: always()
    strategy:
      matrix:
        n: \${{ fromJSON('[1, 2, 3]') }}
    steps:
      - run: touch $marks/c\${{ matrix.n }}
  e:
    steps:
      - run: while [ ! -e $marks/e.go ]; do sleep 0.05; done
  d:
    needs: e
    concurrency: g
    steps:
      - run: touch $marks/d.started
YML
check "validate accepts it" runnerctl validate "$work/jobs.yml"
id=$(runnerctl run "$work/jobs.yml")
check "run $id submitted" test -n "$id"
wait_for 30 test -e $marks/a.started
job_pending() { runnerctl status --json "$id" | jq -e --arg j "$1" '.jobs[] | select(.id == $j) | .concurrency.pending == true'; }
wait_for 10 job_pending b
check "b is pending in g behind a" job_pending b
touch $marks/e.go
wait_for 10 job_pending d
check "d replaced b: d is pending in g" job_pending d
touch $marks/a.go
wait_for 30 completed "$id"
st=$(runnerctl status --json "$id")
say "$(jq -c '[.jobs[] | {id, conclusion}]' <<<"$st")"
check "the run concluded" jq -e '.status == "completed"' <<<"$st"
check "b was replaced: cancelled, never started" \
        jq -e '.jobs[] | select(.id == "b") | .conclusion == "cancelled"' <<<"$st"
check "c's matrix was expanded and ran: 3 instances" test -e $marks/c1 -a -e $marks/c2 -a -e $marks/c3
check "d ran once a released g" test -e $marks/d.started
check "the agent neither crashed nor restarted" test "$(systemctl show -P MainPID runner-agent)" = "$pid"
asan=$(journalctl --sync; journalctl -q -u runner-agent --since "$since" | grep -c -e AddressSanitizer -e 'runtime error')
check "no AddressSanitizer or UBSan report in the agent's journal ($asan)" test "$asan" = 0

echo "1..$n"
exit $((failed > 0))
