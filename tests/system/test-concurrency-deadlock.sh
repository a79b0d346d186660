#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A job in the same concurrency group as its own workflow (README, "Concurrency groups"): the run holds
# the group, so the job would wait for ever for its own run, and so would every later run of the group.
# As on GitHub, the deadlock is refused: the job fails saying so, the run concludes and the group
# passes on to the next run. TAP output.
#
#   test-concurrency-deadlock.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-concurrency-deadlock
trap 'rm -rf "$work" "$marks"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

cat >"$work/self.yml" <<YML
concurrency: shared
jobs:
  build:
    concurrency: SHARED
    steps:
      - run: touch $marks/self.started
YML
cat >"$work/next.yml" <<YML
concurrency: shared
jobs:
  build:
    steps:
      - run: touch $marks/next.started
YML
check "validate accepts both" runnerctl validate "$work/self.yml" "$work/next.yml"
id1=$(runnerctl run "$work/self.yml")
check "run $id1 submitted" test -n "$id1"
wait_for 20 completed "$id1"
st=$(runnerctl status --json "$id1")
say "$st"
check "run $id1 concluded (not stuck with its job pending behind its own run)" \
        jq -e '.status == "completed" and .conclusion == "failure"' <<<"$st"
check "its job says why: a deadlock in group SHARED" \
        jq -e '.jobs[0].message | test("deadlock") and test("SHARED")' <<<"$st"
check "its step never ran" test ! -e $marks/self.started
check "status --json: no group held or awaited by its job" jq -e '.jobs[0].concurrency == null' <<<"$st"
id2=$(runnerctl run "$work/next.yml")
check "run $id2 submitted" test -n "$id2"
wait_for 30 completed "$id2"
check "run $id2, the group's next, ran" test -e $marks/next.started
runnerctl cancel "$id1" >/dev/null 2>&1 || true
runnerctl cancel "$id2" >/dev/null 2>&1 || true

echo "1..$n"
exit $((failed > 0))
