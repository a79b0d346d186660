#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Does blocking work in the agent delay a cancellation? (README, Benchmarks.) Inside the throwaway
# container: the SIGTERM stage of 10 cancelled steps, measured once on a quiet agent and once while
# another run's job workspace of 200,000 files is removed and a third run makes the agent save its
# state dozens of times a second. The stage's error is what the agent recorded (journal) and what the
# steps saw (their own stamps). TAP; fails only on a stage far off its usual time in the same run, or
# a lost signal.
#
#   bench-loop.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/../system/lib.sh"
require_test_container

files=${BENCH_LOOP_FILES:-200000}
scratch bench-loop
trap 'rm -rf "$work" "$marks"; rm -f /etc/runner-agent/agent.conf.d/40-bench-loop.conf' EXIT

install_agent "$build"
side_by_side 40-bench-loop.conf

n_steps=10
{
        echo "name: stubborn"
        echo "jobs:"
        for ((i = 1; i <= n_steps; i++)); do
                cat <<YML
  s$i:
    steps:
      - run: |
          trap 'echo \$EPOCHREALTIME > $marks/s$i.int' INT
          trap 'echo \$EPOCHREALTIME > $marks/s$i.term; exit 0' TERM
          touch $marks/s$i.ready
          while :; do sleep 0.005 & wait \$! || true; done
YML
        done
} >"$work/stubborn.yml"

cat >"$work/heavy.yml" <<YML
name: heavy workspace
jobs:
  heavy:
    steps:
      - run: |
          mkdir files && cd files
          seq 1 $files | xargs touch
          touch $marks/heavy.ready
          while [ ! -e $marks/heavy.go ]; do sleep 0.01; done
YML

{
        echo "name: many saves"
        echo "jobs:"
        echo "  saves:"
        echo "    steps:"
        for ((i = 1; i <= 600; i++)); do echo "      - run: \"true\""; done
} >"$work/saves.yml"

# percentiles FILE: "p50 p99 max" of the numbers in FILE, in ms with 3 decimals
percentiles() {
        sort -n "$1" | awk '{ v[NR] = $1 } END {
                if (NR == 0) { print "- - -"; exit }
                p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
                printf "%.3f %.3f %.3f\n", p50, p99, v[NR] }'
}

# measure NAME: cancels a stubborn run; writes NAME.agent (the agent's recorded SIGTERM error, ms)
# and NAME.step (as the steps saw it, ms). With LOADED=1, the heavy workspace is removed and the
# saves run around the SIGTERM stage.
measure() {
        local name=$1 id i
        rm -f "$marks"/s*.ready "$marks"/s*.int "$marks"/s*.term
        id=$(runnerctl run "$work/stubborn.yml")
        for ((i = 1; i <= n_steps; i++)); do wait_for 60 test -e "$marks/s$i.ready"; done
        runnerctl cancel "$id" >/dev/null
        if [[ ${LOADED:-0} == 1 ]]; then
                # The removal starts half a second before the SIGTERM stage and outlasts it.
                wait_for 10 test -s "$marks/s1.int"
                until (($(ms_since "$marks/s1.int") >= 7000)); do
                        sleep 0.01
                done
                echo "$EPOCHREALTIME" >"$marks/heavy.go"
                # When the workspace is gone, as seen from outside the agent.
                (while [[ -d $HEAVY_WS ]]; do sleep 0.005; done; echo "$EPOCHREALTIME" >"$marks/heavy.gone") &
        fi
        wait_for 120 completed "$id"
        journalctl --sync
        journalctl -o json RUNNER_RUN_ID="$id" RUNNER_EVENT=terminate |
                jq -r '(.RUNNER_ELAPSED_USEC | tonumber) / 1000 - 7500' >"$work/$name.agent"
        for ((i = 1; i <= n_steps; i++)); do
                [[ -e $marks/s$i.term ]] &&
                        awk -v a="$(cat "$marks/s$i.int")" '{ printf "%.3f\n", ($1 - a) * 1000 - 7500 }' "$marks/s$i.term"
        done >"$work/$name.step"
}

LOADED=0 measure quiet

rm -f "$marks/heavy.ready" "$marks/heavy.go"
heavy=$(runnerctl run "$work/heavy.yml")
wait_for 300 test -e "$marks/heavy.ready"
saves=$(runnerctl run "$work/saves.yml")
saves_start=$EPOCHREALTIME
HEAVY_WS=/var/lib/runner-agent/work/r$heavy/heavy LOADED=1 measure loaded
saves_state=$(runnerctl status --json "$saves")
done_steps=$(jq '[.jobs[0].steps[] | select(.status == "completed")] | length' <<<"$saves_state")
saves_rate=$(awk -v n="$done_steps" -v t0="$saves_start" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", n * 3 / (t1 - t0) }')
wait_for 300 completed "$heavy"
wait_for 300 test -e "$marks/heavy.gone"
first_term=$(cat "$marks"/s*.term | sort -n | head -n1)
removal=$(awk -v a="$(cat "$marks/heavy.go")" -v b="$(cat "$marks/heavy.gone")" 'BEGIN { printf "%d", (b - a) * 1000 }')
overlap=$(awk -v a="$(cat "$marks/heavy.go")" -v b="$(cat "$marks/heavy.gone")" -v t="$first_term" 'BEGIN { print (a < t && t < b) ? "yes" : "no" }')
wait_for 300 completed "$saves"

read -r qa50 qa99 qamax < <(percentiles "$work/quiet.agent")
read -r la50 la99 lamax < <(percentiles "$work/loaded.agent")
read -r qs50 qs99 qsmax < <(percentiles "$work/quiet.step")
read -r ls50 ls99 lsmax < <(percentiles "$work/loaded.step")
say "$(
        printf '%-52s %-26s %-26s %s\n' "SIGTERM stage error (ms), $n_steps steps" "quiet agent: p50 p99 max" "loaded: p50 p99 max" "target"
        printf '%-52s %-26s %-26s %s\n' "as the agent recorded it" "$qa50 $qa99 $qamax" "$la50 $la99 $lamax" "loaded p99 within the quiet p99's range"
        printf '%-52s %-26s %-26s %s\n' "as the steps saw it" "$qs50 $qs99 $qsmax" "$ls50 $ls99 $lsmax" ""
        printf '%-52s %s\n' "load: workspace of $files files removed at job end" "${removal} ms from the job's end to the workspace gone; SIGTERM during it: $overlap"
        printf '%-52s %s\n' "load: state saves per second (about 3 a step)" "$saves_rate"
)"

check "every cancelled step got SIGTERM, quiet ($(wc -l <"$work/quiet.step") of $n_steps)" test "$(wc -l <"$work/quiet.step")" -eq "$n_steps"
check "every cancelled step got SIGTERM, loaded ($(wc -l <"$work/loaded.step") of $n_steps)" test "$(wc -l <"$work/loaded.step")" -eq "$n_steps"
check "the agent recorded every SIGTERM, loaded ($(wc -l <"$work/loaded.agent") of $n_steps)" test "$(wc -l <"$work/loaded.agent")" -eq "$n_steps"
check "the removal of $files files was under way at the SIGTERM stage (took ${removal} ms)" test "$overlap" = yes
# Broken, not slow: a loop blocked by the removal puts the stage seconds late (30 s before the removal
# left the loop). The bound is 20 times the quiet run's p99, and never under 1 s: far from what a busy
# machine does to an unblocked loop (CI saw 102 ms with both cores taken).
bound=$(awk -v q="$qa99" 'BEGIN { b = q * 20; if (b < 1000) b = 1000; printf "%.0f", b }')
check "loaded, the SIGTERM stage's p99 as the agent recorded it ($la99 ms) stays under $bound ms" \
        awk -v v="$la99" -v b="$bound" 'BEGIN { exit !(v != "-" && v < b) }'
check "loaded, the steps' p99 ($ls99 ms) stays under $bound ms" \
        awk -v v="$ls99" -v b="$bound" 'BEGIN { exit !(v != "-" && v < b) }'

echo "1..$n"
[[ $failed -eq 0 ]]
