#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The container harness on a host whose PID 1 is systemd (inside the test container it is): a
# command's output and exit status come back, an interrupted run still tears down, and nothing of
# the inner container is left: no mount, no unit, no cgroup, no temporary directory.
# TAP output. usage: test-harness.sh PATH-TO-tests/container/run
set -u

harness=${1:?usage: test-harness.sh PATH-TO-tests/container/run}
if [[ $(id -u) -ne 0 || ! -d /run/systemd/system ]]; then
        echo "needs root and systemd as PID 1; run it through tests/container/run" >&2
        exit 77
fi

n=0
failed=0
ok() {
        n=$((n + 1))
        if [[ $1 -eq 0 ]]; then
                echo "ok $n - $2"
        else
                echo "not ok $n - $2"
                failed=1
        fi
}

leftovers() {
        {
                findmnt -rn -o TARGET | grep runner-ct
                systemctl list-units --all --no-legend 'runner-ct-*'
                ls -d /tmp/runner-ct.* /run/systemd/nspawn/propagate/runner-ct-* 2>/dev/null
                pgrep -a systemd-nspawn
        } 2>/dev/null
}

echo "1..5"

out=$(mktemp)
"$harness" -- sh -c 'echo from-inside; cat /proc/1/comm; exit 7' >"$out" 2>/dev/null
rc=$?
ok $([[ $rc -eq 7 ]]; echo $?) "exit status of the command is returned (got $rc)"
ok $(grep -qx from-inside "$out" && grep -qx systemd "$out"; echo $?) "output comes back, and PID 1 inside is systemd"
left=$(leftovers)
ok $([[ -z $left ]]; echo $?) "nothing left after a normal run${left:+: $left}"

# Interrupted while the command runs.
"$harness" -- sh -c 'echo started; exec sleep 600' >"$out" 2>/dev/null &
pid=$!
for ((i = 0; i < 300; i++)); do
        grep -qx started "$out" && break
        sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
rc=$?
ok $([[ $rc -eq 143 ]]; echo $?) "SIGTERM ends the harness with 143 (got $rc)"
left=$(leftovers)
ok $([[ -z $left ]]; echo $?) "nothing left after an interrupted run${left:+: $left}"

rm -f "$out"
exit $failed
