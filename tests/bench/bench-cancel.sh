#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Cancellation benchmark, one run, one table (inside the test container, against the installed agent):
#   1. cancel request → SIGINT received, for 100 running steps (GitHub's default timeouts), and the
#      timing error of the SIGTERM stage (as received by each step) and of the kill stage (as the agent
#      recorded it in the journal);
#   2. cgroup.kill → populated 0 for trees of 10, 100 and 1000 processes, through runner-agent and
#      beside a bare cgroup.kill of the same trees;
#   3. survivors of the adversarial trees for runner-agent, for signal-the-process-group-then-SIGKILL
#      (GitLab Runner's and Buildkite's way) and for signal-the-entry-PID-only (actions/runner's way).
# Targets (exit 1 if missed): 0 survivors for runner-agent; stage error ≤ 5 ms at p99; all 100 SIGINTs
# within 10 ms of the request. TAP output, the table as comments.
#
#   bench-cancel.sh BUILD_DIR
set -uo pipefail

build=$1
helper=$build/tests/bench-cancel-helper
. "$(dirname "$0")/../system/lib.sh"
require_test_container

work=$(mktemp -d /var/tmp/bench-cancel.XXXXXX)
chmod 0777 "$work"
trap 'rm -rf "$work"; rm -f /etc/runner-agent/agent.conf.d/*.conf' EXIT

install_agent "$build"
install -m 0755 "$helper" /usr/local/bin/bench-cancel-helper
rm -f /etc/runner-agent/agent.conf.d/*.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

# percentile P < numbers (one a line)
pct() { sort -g | awk -v p="$1" '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.3f\n", a[i] }'; }

# ---- 1. 100 steps: SIGINT latency and stage timing, GitHub's defaults ----
steps=100
{
        echo "jobs:"
        for ((i = 1; i <= steps; i++)); do
                printf '  s%d: { steps: [ { run: "exec bench-cancel-helper sigwait %s/s%d" } ] }\n' "$i" "$work" "$i"
        done
} >"$work/hundred.yml"
id=$(runnerctl run "$work/hundred.yml")
wait_for 60 bash -c "[[ \$(cat $work/s*[0-9] 2>/dev/null | grep -c READY) -eq $steps ]]" ||
        { echo "Bail out! the $steps steps did not all start"; exit 1; }
t_req=$("$helper" cancel "$id")
wait_for 60 completed "$id" || { echo "Bail out! run $id did not complete"; exit 1; }
journalctl --sync

sigint=$(for ((i = 1; i <= steps; i++)); do awk -v t="$t_req" '$1 == "INT" { printf "%.3f\n", ($2 - t) / 1e6; exit }' "$work/s$i"; done)
term_err=$(for ((i = 1; i <= steps; i++)); do
        awk '$1 == "INT" && !i { i = $2 } $1 == "TERM" && !t { t = $2 } END { d = (t - i) / 1e6 - 7500; printf "%.3f\n", d < 0 ? -d : d }' "$work/s$i"
done)
kill_err=$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_EVENT=kill _COMM=runner-agent -o json |
        jq -r '(.RUNNER_ELAPSED_USEC | tonumber) / 1000 - 10000 | fabs')
term_err_agent=$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_EVENT=terminate _COMM=runner-agent -o json |
        jq -r '(.RUNNER_ELAPSED_USEC | tonumber) / 1000 - 7500 | fabs')
n_int=$(grep -c . <<<"$sigint")
n_kill=$(grep -c . <<<"$kill_err")

# ---- 2. and 3. kill → populated 0, survivors: short timeouts so that the kill comes at 200 ms ----
mkdir -p /etc/runner-agent/agent.conf.d
printf '[Cancel]\nInterruptTimeoutSec=100ms\nTerminateTimeoutSec=100ms\nForceTerminateSec=1min\n' \
        >/etc/runner-agent/agent.conf.d/50-bench.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }

# One tree a run, as the baseline kills one tree at a time.
declare -A agent_empty bare_empty
for size in 10 100 1000; do
        samples=()
        for r in 1 2 3; do
                rm -f "$work/tree.ready"
                printf 'jobs:\n  t:\n    steps:\n      - run: |\n          trap %s INT TERM\n          for i in $(seq %d); do sleep 1000 & done\n          touch %s/tree.ready\n          wait\n' \
                        "''" "$size" "$work" >"$work/tree.yml"
                id=$(runnerctl run "$work/tree.yml")
                wait_for 60 test -e "$work/tree.ready" || { echo "Bail out! the tree did not grow"; exit 1; }
                runnerctl cancel "$id" >/dev/null
                wait_for 60 completed "$id" || { echo "Bail out! run $id did not complete"; exit 1; }
                journalctl --sync
                samples+=("$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_EVENT=step-concluded _COMM=runner-agent -o json |
                        jq -r '(.RUNNER_KILL_TO_EMPTY_USEC | tonumber) / 1000')")
        done
        agent_empty[$size]=$(printf '%s\n' "${samples[@]}" | pct 50)
        bare_empty[$size]=$("$helper" cgkill "$size" 3 | awk '{ print $1 / 1000 }' | pct 50)
done

cat >"$work/adversarial.sh" <<EOF
( setsid sleep 1001 & )
nohup sleep 1002 >/dev/null 2>&1 &
bash -c "trap '' INT TERM; sleep 1003" &
sleep 1004 & kill -STOP \$!
printf '#!/bin/bash\nsleep 0.05\nexec -a reexec-1005 /bin/bash "\$0"\n' > $work/reexec.sh
bash $work/reexec.sh &
( while :; do sleep 1006 & sleep 0.02; done ) &
trap '' INT TERM
touch $work/adversarial.ready
while :; do sleep 0.05; done
EOF
chmod 0755 "$work/adversarial.sh"
agent_surv=()
for r in 1 2 3; do
        rm -f "$work/adversarial.ready"
        printf 'jobs:\n  a: { steps: [ { run: "bash %s/adversarial.sh" } ] }\n' "$work" >"$work/adv.yml"
        id=$(runnerctl run "$work/adv.yml")
        wait_for 20 test -e "$work/adversarial.ready"
        sleep 0.3
        runnerctl cancel "$id" >/dev/null
        wait_for 30 completed "$id"
        sleep 0.2
        agent_surv+=("$(pgrep -u runner | wc -l)")
done
pg_surv=(); entry_surv=()
for r in 1 2 3; do
        pg_surv+=("$("$helper" baseline pgroup "$work/adversarial.sh" "$work/adversarial.ready" 200)")
        entry_surv+=("$("$helper" baseline entry "$work/adversarial.sh" "$work/adversarial.ready" 200)")
done

# ---- the table ----
int_p50=$(pct 50 <<<"$sigint"); int_p99=$(pct 99 <<<"$sigint"); int_max=$(pct 100 <<<"$sigint")
term_p50=$(pct 50 <<<"$term_err"); term_p99=$(pct 99 <<<"$term_err")
kill_p50=$(pct 50 <<<"$kill_err"); kill_p99=$(pct 99 <<<"$kill_err")
say "$(cat <<EOF
| measurement | runner-agent | baseline | target |
|---|---|---|---|
| cancel request → SIGINT received, $n_int steps (ms) | p50 $int_p50, p99 $int_p99, max $int_max | | all ≤ 10 |
| SIGTERM stage error, as received ($steps steps, ms) | p50 $term_p50, p99 $term_p99 | | p99 ≤ 5 |
| SIGTERM stage error, agent's record (ms) | p50 $(pct 50 <<<"$term_err_agent"), p99 $(pct 99 <<<"$term_err_agent") | | |
| kill stage error, agent's record ($n_kill steps, ms) | p50 $kill_p50, p99 $kill_p99 | | p99 ≤ 5 |
| kill → populated 0, 10 processes (ms, p50 of 3) | ${agent_empty[10]} | bare cgroup.kill ${bare_empty[10]} | |
| kill → populated 0, 100 processes (ms, p50 of 3) | ${agent_empty[100]} | bare cgroup.kill ${bare_empty[100]} | |
| kill → populated 0, 1000 processes (ms, p50 of 3) | ${agent_empty[1000]} | bare cgroup.kill ${bare_empty[1000]} | |
| survivors, adversarial tree (3 runs) | ${agent_surv[*]} | process group: ${pg_surv[*]}; entry PID only: ${entry_surv[*]} | 0 |
EOF
)"

within() { awk -v v="$1" -v hi="$2" 'BEGIN { exit !(v != "nan" && v <= hi) }'; }
[[ $n_int -eq $steps ]] && within "$int_max" 10 && ok "all $steps SIGINTs within 10 ms of the request (max $int_max ms)" ||
        not_ok "all $steps SIGINTs within 10 ms of the request ($n_int received, max $int_max ms)"
within "$term_p99" 5 && ok "SIGTERM stage error p99 $term_p99 ms ≤ 5" || not_ok "SIGTERM stage error p99 $term_p99 ms > 5"
[[ $n_kill -eq $steps ]] && within "$kill_p99" 5 && ok "kill stage error p99 $kill_p99 ms ≤ 5" || not_ok "kill stage error p99 $kill_p99 ms ($n_kill kills)"
[[ "${agent_surv[*]}" == "0 0 0" ]] && ok "runner-agent: 0 survivors in 3 runs" || not_ok "runner-agent survivors: ${agent_surv[*]}"
# The baselines must show what they are there to show, or the comparison means nothing.
(( pg_surv[0] > 0 && entry_surv[0] > pg_surv[0] )) && ok "the baselines leave survivors (process group ${pg_surv[0]}, entry only ${entry_surv[0]})" ||
        not_ok "the baselines' survivors: process group ${pg_surv[*]}, entry only ${entry_surv[*]}"
for size in 10 100 1000; do
        [[ ${agent_empty[$size]} != nan && ${bare_empty[$size]} != nan ]] && ok "kill → populated 0 measured for $size processes" ||
                not_ok "kill → populated 0 for $size processes: agent ${agent_empty[$size]}, bare ${bare_empty[$size]}"
done
rm -f /usr/local/bin/bench-cancel-helper
echo "1..$n"
exit $((failed > 0))
