#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# [Agent] MaxStepLogSize= in agent.conf (README, "Configuration"): a step's log beyond the limit keeps
# its head and its tail with a line saying what was cut, and the step does not fail for it; infinity
# keeps everything. Inside the throwaway container, against the installed agent. TAP output.
#
#   test-log-size.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

work=$(mktemp -d /srv/test-log-size.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"; rm -f /etc/runner-agent/agent.conf.d/50-test-log-size.conf' EXIT

install_agent "$build"
mkdir -p /etc/runner-agent/agent.conf.d
printf '[Agent]\nMaxStepLogSize=64K\n' >/etc/runner-agent/agent.conf.d/50-test-log-size.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

cat >"$work/big.yml" <<'YML'
jobs:
  j:
    steps:
      - run: seq 1 100000
      - run: seq 1 1000
YML
seq 1 100000 >"$work/expected"
id=$(timeout 120 runnerctl run --wait "$work/big.yml" 2>/dev/null | head -n1)
state=$(runnerctl status --json "$id")
check "the run with a 590 kB step under MaxStepLogSize=64K concluded success (run $id)" \
        jq -e '.conclusion == "success"' <<<"$state"
check "… both steps success" jq -e '[.jobs[0].steps[].conclusion] == ["success", "success"]' <<<"$state"
log=/var/lib/runner-agent/runs/$id/logs/j1-s1.log
marker=$(grep -a '^\[runner-step: ' "$log")
say "the cut line: $marker"
say "the log: $(stat -c %s "$log") bytes"
check "the cut line says how much was cut and what is kept, with the limit" \
        grep -Eq '^\[runner-step: [0-9]+ bytes of output cut here; the log keeps the first [0-9]+ and the last [0-9]+ bytes \(--max-log-size=65536\)\]$' <<<"$marker"
read -r cut head tail < <(sed -E 's/^\[runner-step: ([0-9]+) bytes.* first ([0-9]+) and the last ([0-9]+) bytes.*/\1 \2 \3/' <<<"$marker")
total=$(stat -c %s "$work/expected")
check "head ($head) + tail ($tail) = the limit, 65536, give or take a line's end" \
        test $((head + tail)) -le 65536 -a $((head + tail)) -ge 65530
check "the tail is 10% of it, the head the rest" test "$tail" -eq 6553 -a "$head" -eq $((65536 - 6553))
check "cut + head + tail = every byte the step wrote ($total)" test $((cut + head + tail)) -eq "$total"
{
        head -c "$head" "$work/expected"
        [[ $(head -c "$head" "$work/expected" | tail -c 1 | od -An -tx1) == *0a ]] || echo
        echo "$marker"
        tail -c "$tail" "$work/expected"
} >"$work/expected-log"
check "the log is the step's first $head bytes, the cut line and its last $tail bytes, byte for byte" \
        cmp "$work/expected-log" "$log"
check "a step under the limit keeps its whole log" cmp -s <(seq 1 1000) "/var/lib/runner-agent/runs/$id/logs/j1-s2.log"
check "runnerctl logs shows the cut line too" bash -c 'runnerctl logs "$1" j 1 | grep -q "bytes of output cut here"' _ "$id"

printf '[Agent]\nMaxStepLogSize=infinity\n' >/etc/runner-agent/agent.conf.d/50-test-log-size.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }
id=$(timeout 120 runnerctl run --wait "$work/big.yml" 2>/dev/null | head -n1)
check "with MaxStepLogSize=infinity the run concluded success (run $id)" \
        jq -e '.conclusion == "success"' <<<"$(runnerctl status --json "$id")"
check "… and the log is the step's output, byte for byte" cmp -s "$work/expected" "/var/lib/runner-agent/runs/$id/logs/j1-s1.log"

printf '[Agent]\nMaxStepLogSize=0\n' >/etc/runner-agent/agent.conf.d/50-test-log-size.conf
out=$(runner-agent --check-config 2>&1); rc=$?
say "$out"
check "runner-agent --check-config refuses MaxStepLogSize=0 (exit $rc), saying why" \
        bash -c 'test "$1" -ne 0 && grep -q "invalid MaxStepLogSize=0" <<<"$2"' _ "$rc" "$out"

echo "1..$n"
exit $((failed > 0))
