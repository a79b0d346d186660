#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The agent's thousandth run, inside the throwaway container: 2,000 tiny runs one after another and
# 300 at once must all conclude success with the agent's descriptors flat, and an agent restarted
# with them all on disk must list every one and start new runs. TAP.
#
#   test-scale.sh BUILD_DIR [SEQUENTIAL [PARALLEL]]
set -uo pipefail

build=$(realpath "$1")
sequential=${2:-2000}
parallel=${3:-300}
. "$(dirname "$0")/lib.sh"
require_test_container

work=$(mktemp -d /srv/test-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

agent_pid() { systemctl show -P MainPID runner-agent; }
agent_fds() { ls "/proc/$(agent_pid)/fd" | wc -l; }
# How many of the runs with ids above $1 concluded each way, as "success=N failure=N …".
tally() {
        runnerctl list --json | jq -r --argjson from "$1" \
                '[.[] | select(.id > $from) | .conclusion // .status] | group_by(.) | map("\(.[0])=\(length)") | join(" ")'
}
last_id() { runnerctl list --json | jq '[.[].id] | max // 0'; }

cat >"$work/tiny.yml" <<'YML'
name: tiny
jobs:
  j:
    steps:
      - run: "true"
YML
runnerctl run --wait "$work/tiny.yml" >/dev/null # what the agent opens once, on its first run, is not a leak
fds_before=$(agent_fds)
jobs_limit=$(runner-agent --check-config 2>/dev/null | sed -n 's/^MaxParallelJobs=//p')
say "agent: $fds_before descriptors, MaxParallelJobs=$jobs_limit"

# ---- one after another ----
from=$(last_id)
start=$SECONDS
failures=0
for ((i = 0; i < sequential; i++)); do
        runnerctl run --wait "$work/tiny.yml" >/dev/null 2>"$work/err" || {
                failures=$((failures + 1))
                ((failures <= 3)) && say "run $i: $(cat "$work/err")"
        }
done
say "$sequential sequential runs took $((SECONDS - start)) s"
check "$sequential sequential runs: runnerctl run --wait succeeded every time ($failures failures)" test "$failures" -eq 0
result=$(tally "$from")
check "$sequential sequential runs all concluded success ($result)" test "$result" = "success=$sequential"
fds=$(agent_fds)
check "the agent holds $fds descriptors after them (before: $fds_before)" test "$fds" -eq "$fds_before"

# ---- all at once ----
# Submitted by 50 clients at a time (dbus-daemon lets one user hold at most 256 connections to the
# system bus, so 300 waiting runnerctl processes would be refused by the bus, not by the agent), then
# left to the agent: every run is in at once, queued or running.
from=$(last_id)
start=$SECONDS
seq "$parallel" | xargs -P 50 -I{} sh -c 'runnerctl run "$1" >/dev/null 2>>"$2"' _ "$work/tiny.yml" "$work/err.parallel"
say "$(sort "$work/err.parallel" | uniq -c)"
check "$parallel submits made at once were all accepted" test ! -s "$work/err.parallel"
all_done() { [[ $(runnerctl list --json | jq --argjson from "$from" '[.[] | select(.id > $from and .status != "completed")] | length') -eq 0 ]]; }
running_max=0
end=$((SECONDS + 600))
until all_done || ((SECONDS > end)); do
        # As seen from outside: job slices that exist at once, against the limit.
        r=$(systemctl list-units --no-legend --plain 'runner-r*-j*.slice' 2>/dev/null | awk '$3 == "active"' | wc -l)
        ((r > running_max)) && running_max=$r
        sleep 0.05
done
say "$parallel parallel runs took $((SECONDS - start)) s; at most $running_max job slices active at once"
result=$(tally "$from")
check "$parallel parallel runs all concluded success ($result)" test "$result" = "success=$parallel"
if [[ $jobs_limit != infinity ]]; then
        check "never more than MaxParallelJobs=$jobs_limit jobs ran at once (seen: $running_max)" \
                test "$running_max" -le "$jobs_limit"
fi
fds=$(agent_fds)
check "the agent holds $fds descriptors after them (before: $fds_before)" test "$fds" -eq "$fds_before"

# ---- a restart with every run on disk ----
total=$(runnerctl list --json | jq length)
on_disk=$(find /var/lib/runner-agent/runs -mindepth 1 -maxdepth 1 -name '[1-9]*' | wc -l)
systemctl restart runner-agent
check "after a restart the agent lists all $on_disk runs on disk (lists $(runnerctl list --json | jq length))" \
        test "$(runnerctl list --json | jq length)" -eq "$on_disk"
check "... which are at least the $total it listed before" test "$on_disk" -ge "$total"
fds=$(agent_fds)
check "restarted with $on_disk runs on disk, the agent holds $fds descriptors" test "$fds" -le "$((fds_before + 2))"
out=$(runnerctl run --wait "$work/tiny.yml" 2>&1)
id=$(head -n1 <<<"$out")
check "and starts a new run ($id) that concludes success" \
        test "$(runnerctl status --json "$id" | jq -r .conclusion)" = success

echo "1..$n"
[[ $failed -eq 0 ]]
