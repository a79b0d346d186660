#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Cancellation end to end (README, Cancellation), inside the throwaway container: the installed agent, driven
# through runnerctl, observed through what the steps themselves recorded, the journal, processes and
# cgroups. TAP output.
#
#   test-cancel.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-cancel
trap 'rm -rf "$work" "$marks"; rm -f /etc/runner-agent/agent.conf.d/*.conf' EXIT

install_agent "$build"
side_by_side 40-test-parallel.conf

state() { runnerctl status --json "$1"; }
events() { journalctl --sync; runnerctl events --json "$1"; }
# event RUN JQ-SELECT: the first matching event's JSON
event() { events "$1" | jq -c "[.[] | select($2)][0] // empty"; }
survivors() { live_runner_processes; }
# agent_ms ISO-TIME: the agent's own timestamp (status JSON) in ms since the epoch
agent_ms() { jq -r '(.[:19] + "Z" | fromdate) * 1000 + (.[20:23] | tonumber)' <<<"\"$1\""; }
# request_ms RUN: when the agent logged the cancel request, in ms since the epoch
request_ms() { event "$1" '.RUNNER_EVENT == "cancel-requested"' | jq -r '(.realtime_usec | tonumber) / 1000 | floor'; }

# ---- 1. the escalation's timings and the adversarial trees, with GitHub's defaults ----
# The steps measure when they see each signal: a trap runs as soon as bash gets the CPU, because the
# wait builtin, unlike a foreground sleep, returns at once for a trapped signal; the stamp is
# $EPOCHREALTIME, which costs no fork.
cat >"$work/stubborn.yml" <<YML
name: stubborn steps
jobs:
  term:
    steps:
      - name: ignores SIGINT, ends on SIGTERM
        run: |
          trap 'echo \$EPOCHREALTIME > $marks/term.int' INT
          trap 'echo \$EPOCHREALTIME > $marks/term.term; exit 0' TERM
          touch $marks/term.ready
          while :; do sleep 0.005 & wait \$! || true; done
      - run: echo "unconditioned step after the cancelled one"
      - if: always()
        run: echo "cleanup step ran"
      - if: cancelled()
        run: echo "cancelled() step ran"
  kill:
    steps:
      - name: ignores SIGINT and SIGTERM
        run: |
          trap 'echo \$EPOCHREALTIME > $marks/kill.int' INT
          trap 'echo \$EPOCHREALTIME > $marks/kill.term' TERM
          touch $marks/kill.ready
          while :; do echo \$EPOCHREALTIME >> $marks/kill.beat; sleep 0.005 & wait \$! || true; done
  finally:
    needs: [term, kill]
    if: always()
    steps:
      - run: echo "always() job ran after the cancel"
YML

id=$(runnerctl run "$work/stubborn.yml")
check "run $id submitted" test -n "$id"
wait_for 20 test -e $marks/term.ready -a -e $marks/kill.ready
check "runnerctl cancel $id" runnerctl cancel "$id"
date +%s.%N >"$work/cancel-returned"
wait_for 30 completed "$id"
check "the run completed, cancelled" jq -e '.conclusion == "cancelled"' <<<"$(state "$id")"

int_term=$(ms_between $marks/term.int $marks/term.term)
say "term: SIGINT seen $(ms_between "$work/cancel-returned" $marks/term.int) ms after runnerctl returned, SIGTERM $int_term ms after SIGINT"
check "an entry ignoring SIGINT got SIGTERM 7500 ms after SIGINT ($int_term ms, ±50)" within "$int_term" 7450 7550
kill_term=$(ms_between $marks/kill.int $marks/kill.term)
check "the one ignoring both got SIGTERM at 7500 ms too ($kill_term ms)" within "$kill_term" 7450 7550
kill_event=$(event "$id" '.RUNNER_EVENT == "kill" and .RUNNER_JOB == "kill"')
term_event=$(event "$id" '.RUNNER_EVENT == "terminate" and .RUNNER_JOB == "kill"')
say "journal: terminate $(jq -r .RUNNER_ELAPSED_USEC <<<"$term_event") µs, kill $(jq -r .RUNNER_ELAPSED_USEC <<<"$kill_event") µs into the step's cancellation"
journal_gap=$(( ($(jq -r .realtime_usec <<<"$kill_event") - $(jq -r .realtime_usec <<<"$term_event")) / 1000 ))
check "journal: the kill came ${journal_gap} ms after SIGTERM (±50)" within "$journal_gap" 2450 2550
# What the step saw lags by however long a busy machine takes to run its trap: its last sign of life is
# checked against the agent's kill, as test-matrix does: alive until shortly before it, nothing after.
beat_to_kill=$(awk -v k="$(jq -r .realtime_usec <<<"$kill_event")" '{ t = $1 } END { printf "%d\n", (k / 1e6 - t) * 1000 }' $marks/kill.beat)
check "… and lived until the kill, not after it (last sign of life $beat_to_kill ms before it, -50/+300)" \
        within "$beat_to_kill" -50 300

logs=$(runnerctl logs "$id")
check "the always() cleanup step ran in the cancelled job" grep -q "cleanup step ran" <<<"$logs"
check "the cancelled() step ran in the cancelled job" grep -q "cancelled() step ran" <<<"$logs"
check "the unconditioned step after the cancelled one did not run" \
        bash -c '! grep -q "unconditioned step after" <<<"$1"' _ "$logs"
check "the always() job that became ready after the cancel ran" grep -q "always() job ran after the cancel" <<<"$logs"
st=$(state "$id")
check "status: term step 1 cancelled, 2 skipped, 3 and 4 success" jq -e '[.jobs[] | select(.id == "term") | .steps[].conclusion] == ["cancelled", "skipped", "success", "success"]' <<<"$st"
check "status: jobs term and kill cancelled, finally success" jq -e '[.jobs[].conclusion] == ["cancelled", "cancelled", "success"]' <<<"$st"

# The timeline, from journald.
ev=$(events "$id")
order=$(jq -r '[.[] | select(.RUNNER_JOB == "term" or .RUNNER_JOB == null) | .RUNNER_EVENT] | join(" ")' <<<"$ev")
say "term's timeline: $order"
check "the timeline is in order: cancel-requested, job-condition, job-cancelled, step-condition, interrupt, terminate, step-concluded" \
        grep -q "cancel-requested job-condition job-cancelled step-condition interrupt terminate step-concluded" <<<"$order"
check "cancel-requested names who asked" jq -e 'any(.[]; .RUNNER_EVENT == "cancel-requested" and .RUNNER_CANCELLED_BY == "root (UID 0)")' <<<"$ev"
check "cancel-requested and job-cancelled say RUNNER_CANCEL_REASON=user" \
        jq -e '[.[] | select(.RUNNER_EVENT == "cancel-requested" or .RUNNER_EVENT == "job-cancelled") | .RUNNER_CANCEL_REASON] | length >= 3 and all(. == "user")' <<<"$ev"
check "status --json: the run's cancel_reason is user" jq -e '.cancel_reason == "user"' <<<"$st"
check "job-condition carries the expression and its result" jq -e 'any(.[]; .RUNNER_EVENT == "job-condition" and .RUNNER_JOB == "term" and .RUNNER_CONDITION == "success()" and .RUNNER_CONDITION_RESULT == "false")' <<<"$ev"
check "the always() job's condition was logged true" jq -e 'any(.[]; .RUNNER_EVENT == "job-condition" and .RUNNER_JOB == "finally" and .RUNNER_CONDITION == "always()" and .RUNNER_CONDITION_RESULT == "true")' <<<"$ev"
check "signals carry SIGNAL, PID, ELAPSED_USEC and the phase" jq -e 'any(.[]; .RUNNER_EVENT == "interrupt" and .RUNNER_SIGNAL == "SIGINT" and (.RUNNER_PID | tonumber) > 1 and .RUNNER_ELAPSED_USEC == "0" and .RUNNER_CANCEL_PHASE == "interrupt")' <<<"$ev"
check "the kill carries the process count" jq -e 'any(.[]; .RUNNER_EVENT == "kill" and .RUNNER_CANCEL_PHASE == "kill" and (.RUNNER_PROCESSES | tonumber) >= 2)' <<<"$ev"
check "every event has a MESSAGE_ID" jq -e 'all(.[]; .MESSAGE_ID | test("^[0-9a-f]{32}$"))' <<<"$ev"
check "journalctl RUNNER_RUN_ID=$id RUNNER_CANCEL_PHASE=terminate finds both SIGTERMs" \
        test "$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_CANCEL_PHASE=terminate -o cat | wc -l)" -eq 2
check "journalctl -x explains the events from the catalog" \
        bash -c 'journalctl -x -q RUNNER_RUN_ID='"$id"' RUNNER_EVENT=kill | grep -q "cgroup.kill, which the kernel applies"'
table=$(runnerctl events "$id")
say "$(grep -E 'cancel-requested|interrupt|terminate|kill ' <<<"$table" | head -8)"
check "runnerctl events prints the timeline relative to the request" grep -qE '^\S+ \S+ +\+0\.000  cancel-requested' <<<"$table"
# The offsets are between the events' journal timestamps, each taken when the event was logged (after
# the signal went out): a few ms either way of 7.500 is the logging, not the stage.
check "runnerctl events shows SIGTERM at +7.5 s (7.450-7.549)" grep -qE '\+7\.(4[5-9]|5[0-4])[0-9]  terminate' <<<"$table"

# A step writing RUNNER_* fields to the journal cannot forge the timeline.
cat >"$work/forge.yml" <<'YML'
jobs:
  forge:
    steps:
      - run: |
          echo 'RUNNER_EVENT=kill' | systemd-cat --identifier=runner-agent 2>/dev/null || true
          logger --journald <<EOF
          MESSAGE=forged
          RUNNER_RUN_ID=${GITHUB_RUN_ID}
          RUNNER_EVENT=force
          EOF
YML
fid=$(runnerctl run --wait "$work/forge.yml")
fid=$(head -1 <<<"$fid")
check "an event a step writes itself is not in runnerctl events" \
        bash -c '! runnerctl events --json '"$fid"' | jq -e "any(.[]; .RUNNER_EVENT == \"force\")"'

# ---- 2. shortened timeouts: the force deadline, --force, SignalTarget=cgroup, systemctl stop ----
mkdir -p /etc/runner-agent/agent.conf.d
cat >/etc/runner-agent/agent.conf.d/50-test.conf <<'EOF'
[Cancel]
InterruptTimeoutSec=500ms
TerminateTimeoutSec=500ms
ForceTerminateSec=3s
EOF
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }

# Adversarial trees: the entry ignores SIGINT and SIGTERM, so the cgroup.kill (at 1 s here) meets
# every one of them, the fork loop forking.
cat >"$work/trees.yml" <<YML
jobs:
  trees:
    steps:
      - name: adversarial trees
        run: |
          ( setsid sleep 1001 & )                       # double fork + setsid
          nohup sleep 1002 >/dev/null 2>&1 &            # nohup
          bash -c "trap '' INT TERM; sleep 1003" &      # ignores both
          sleep 1004 & kill -STOP \$!                   # stopped
          printf '#!/bin/bash\nsleep 0.05\nexec -a reexec-1005 /bin/bash "\$0"\n' > $marks/reexec.sh
          bash $marks/reexec.sh &                       # re-execs itself
          ( while :; do sleep 1006 & sleep 0.02; done ) &  # forks while being killed
          trap '' INT TERM
          touch $marks/trees.ready
          while :; do sleep 0.05; done
YML
id=$(runnerctl run "$work/trees.yml")
wait_for 20 test -e $marks/trees.ready
wait_for 20 adversarial_tree_grown
say "processes of the step before the cancel: $(pgrep -u "$JOB_UIDS" | wc -l)"
runnerctl cancel "$id" >/dev/null
wait_for 20 completed "$id"
check "no process of the adversarial trees survived (none of the jobs' users has a process)" test -z "$(survivors)"
check "no sleep 100x, reexec or fork loop left" test -z "$(pgrep -a -f 'sleep 100[1-6]|reexec-1005|reexec.sh')"
check "no cgroup of the run left" test ! -e /sys/fs/cgroup/runner.slice/runner-r$id.slice
trees_kill=$(event "$id" '.RUNNER_EVENT == "kill" and .RUNNER_JOB == "trees"')
say "the trees' scope held $(jq -r .RUNNER_PROCESSES <<<"$trees_kill") processes when it was killed"
check "the trees' kill found the tree ($(jq -r .RUNNER_PROCESSES <<<"$trees_kill") processes)" \
        test "$(jq -r .RUNNER_PROCESSES <<<"$trees_kill")" -ge 7

# ---- 3. nothing a step wrote before its kill is lost ----
# runner-step is in the scope's "supervisor", the step in its "payload": the kill takes "payload" first,
# and the shim copies what is left in the pipes before the rest of the scope goes (README, Cancellation).
# flood.pl writes numbered 64 KiB records as fast as the pipe takes them and counts, in a file, each one
# whose write(2) returned; check-records.pl wants the log to be records 1..K whole, in order, then at
# most the beginning of K+1, with K at least the count: a byte lost anywhere before the kill shows.
cat >"$work/flood.pl" <<'PL'
#!/usr/bin/perl
# flood.pl COUNT-FILE [MAX]: records of 64 KiB to stdout as fast as the pipe takes them, record N being
# sprintf("%08d", N) 8192 times; N goes to COUNT-FILE (one line each) once its write returned.
# After MAX records (default 1600: 100 MiB), it sleeps.
use strict;
use warnings;
open(my $count, '>>', $ARGV[0]) or die "$ARGV[0]: $!";
my $max = $ARGV[1] // 1600;
for (my $i = 1; $i <= $max; $i++) {
        my $r = sprintf('%08d', $i) x 8192;
        for (my $off = 0; $off < length $r;) {
                my $w = syswrite(STDOUT, $r, length($r) - $off, $off);
                die "write: $!" unless defined $w;
                $off += $w;
        }
        syswrite($count, "$i\n");
}
sleep;
PL
cat >"$work/check-records.pl" <<'PL'
#!/usr/bin/perl
# check-records.pl LOG COUNT-FILE: LOG must be flood.pl's records 1, 2, … K in order, each whole,
# then at most a beginning of record K+1; and K must be at least the last number in COUNT-FILE (every
# record whose write returned before the kill). Prints K and that number.
use strict;
use warnings;
open(my $log, '<:raw', $ARGV[0]) or die "$ARGV[0]: $!";
my $counted = 0;
if (open(my $c, '<', $ARGV[1])) {
        while (<$c>) { $counted = $1 if /^(\d+)$/; }
}
my ($k, $buf) = (0, '');
for (;;) {
        my $n = read($log, $buf, 65536);
        die "read: $!" unless defined $n;
        last if $n == 0;
        my $want = sprintf('%08d', $k + 1) x 8192;
        if ($n < 65536) {
                my $more = read($log, my $rest, 1);
                die "record " . ($k + 1) . " is cut short, and more follows\n" if $more;
                die "record " . ($k + 1) . " (partial) is not what was written\n"
                        if $buf ne substr($want, 0, $n);
                last;
        }
        die "record " . ($k + 1) . " is not what was written\n" if $buf ne $want;
        $k++;
}
print "$k whole records in the log, $counted written before the kill\n";
exit($k >= $counted && $counted > 0 ? 0 : 1);
PL
head -c 1048576 /dev/urandom >"$work/mib"
chmod 0644 "$work/mib" "$work/flood.pl"
cat >"$work/lossless.yml" <<YML
jobs:
  mib:
    steps:
      - name: ignores SIGINT and SIGTERM, writes 1 MiB on SIGTERM, then sleeps
        run: |
          trap '' INT
          trap 'cat $work/mib; touch $marks/mib.written; sleep 1000' TERM
          touch $marks/mib.ready
          while :; do sleep 0.05 & wait \$! || true; done
  flood:
    steps:
      - name: ignores SIGINT, floods its output on SIGTERM until killed
        run: |
          trap '' INT
          trap 'exec perl $work/flood.pl $marks/flood.count 800' TERM
          touch $marks/flood.ready
          while :; do sleep 0.05 & wait \$! || true; done
YML
cat >"$work/background.yml" <<YML
jobs:
  background:
    steps:
      - name: leaves a process flooding its output, which only the job's end kills
        run: |
          perl $work/flood.pl $marks/background.count 800 &
          until [ "\$(tail -n 1 $marks/background.count 2>/dev/null)" -ge 16 ] 2>/dev/null; do sleep 0.01; done
YML
bg=$(runnerctl run "$work/background.yml")
wait_for 30 completed "$bg"
id=$(runnerctl run "$work/lossless.yml")
wait_for 20 test -e $marks/mib.ready -a -e $marks/flood.ready
# The shims are made to lag a whole pipe behind their steps at the kill, as on a loaded machine where
# they do not get the CPU: stopped (by root; the step's user cannot) until the steps' processes are
# gone, so that what the steps wrote is in the pipes, not yet in the logs, when the kill comes.
shims=$(for p in $(pgrep -x runner-step); do grep -q "runner-r$id-" /proc/$p/cgroup && echo $p; done)
check "the run's two shims found ($(wc -w <<<"$shims"))" test "$(wc -w <<<"$shims")" -eq 2
kill -STOP $shims
runnerctl cancel "$id" >/dev/null
flooded() { test "$(tail -n 1 $marks/flood.count 2>/dev/null)" -ge 8; }
killed() { test -z "$(survivors)"; }
wait_for 20 test -e $marks/mib.written
wait_for 20 flooded
wait_for 20 killed
kill -CONT $shims 2>/dev/null
wait_for 30 completed "$id"
logs=/var/lib/runner-agent/runs/$id/logs
check "the step that wrote 1 MiB on SIGTERM was killed after writing it" test -e $marks/mib.written
check "… and its log holds the whole MiB, byte for byte" cmp "$work/mib" "$logs/j1-s1.log"
out=$(perl "$work/check-records.pl" "$logs/j2-s1.log" $marks/flood.count 2>&1)
rc=$?
check "a step flooding its output when killed: every record written before the kill is in the log ($out)" \
        test $rc -eq 0
check "the background run succeeded" jq -e '.conclusion == "success"' <<<"$(state "$bg")"
out=$(perl "$work/check-records.pl" "/var/lib/runner-agent/runs/$bg/logs/j1-s1.log" $marks/background.count 2>&1)
rc=$?
check "a background process flooding at its job's end: every record written before the kill is in the log ($out)" \
        test $rc -eq 0
check "no process of the runs survived" test -z "$(survivors)"
check "no cgroup of the runs left" test ! -e /sys/fs/cgroup/runner.slice/runner-r$id.slice -a ! -e /sys/fs/cgroup/runner.slice/runner-r$bg.slice
rm -f "$logs"/j*-s1.log /var/lib/runner-agent/runs/"$bg"/logs/j1-s1.log

# The rest with SignalTarget=cgroup.
echo "SignalTarget=cgroup" >>/etc/runner-agent/agent.conf.d/50-test.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }

cat >"$work/force.yml" <<YML
jobs:
  forever:
    if: always()
    steps:
      - run: |
          trap '' INT TERM
          touch $marks/forever.ready
          sleep 1000
      - if: always()
        run: echo "must not start after the deadline"
  foreground:
    steps:
      - run: |
          touch $marks/fg.ready
          sleep 1000
          echo "after sleep"
YML
id=$(runnerctl run "$work/force.yml")
wait_for 20 test -e $marks/forever.ready -a -e $marks/fg.ready
runnerctl cancel "$id" >/dev/null
wait_for 20 completed "$id"
st=$(state "$id")
# From the agent's own timestamps, not from when this script's polling noticed.
ms=$(( $(agent_ms "$(jq -r .completed_at <<<"$st")") - $(request_ms "$id") ))
check "the always() job kept running and was force-terminated at the 3 s deadline (completed $ms ms after the request)" within "$ms" 2900 4000
force=$(event "$id" '.RUNNER_EVENT == "force"')
say "force event: $(jq -r .MESSAGE <<<"$force")"
check "the force event: ELAPSED_USEC ≈ 3 s, the run's slice, the reason" \
        jq -e '(.RUNNER_ELAPSED_USEC | tonumber) >= 3000000 and (.RUNNER_ELAPSED_USEC | tonumber) < 3050000 and .RUNNER_UNIT == "runner-r'"$id"'.slice" and .RUNNER_REASON == "the force deadline passed"' <<<"$force"
check "nothing started after the deadline; the always() job is cancelled" \
        jq -e '(.jobs[0].conclusion == "cancelled") and (.jobs[0].steps[1].conclusion == "skipped")' <<<"$st"
check "SignalTarget=cgroup: SIGINT reached the foreground sleep and the step ended before SIGTERM" \
        bash -c '! runnerctl events --json '"$id"' | jq -e "any(.[]; .RUNNER_JOB == \"foreground\" and .RUNNER_EVENT == \"terminate\")"'
check "… the interrupt event says cgroup, with the process count" \
        jq -e 'any(.[]; .RUNNER_JOB == "foreground" and .RUNNER_EVENT == "interrupt" and .RUNNER_SIGNAL_TARGET == "cgroup" and (.RUNNER_PROCESSES | tonumber) >= 2)' <<<"$(events "$id")"
check "no survivors after the force" test -z "$(survivors)"

# runnerctl cancel --force: the force deadline at once.
id=$(runnerctl run "$work/force.yml")
rm -f $marks/*.ready
wait_for 20 test -e $marks/forever.ready -a -e $marks/fg.ready
check "runnerctl cancel --force" runnerctl cancel --force "$id"
wait_for 20 completed "$id"
ms=$(( $(agent_ms "$(state "$id" | jq -r .completed_at)") - $(request_ms "$id") ))
check "--force: completed $ms ms after the request (< 500), with a force event and no signals" \
        bash -c '(( '"$ms"' < 500 )) && runnerctl events --json '"$id"' | jq -e "any(.[]; .RUNNER_EVENT == \"force\") and all(.[]; .RUNNER_EVENT != \"interrupt\")"'
check "runnerctl cancel of a completed run fails clearly" \
        bash -c 'runnerctl cancel '"$id"' 2>&1 | grep -q "has completed already"'
check "runnerctl cancel of an unknown run fails clearly" \
        bash -c 'runnerctl cancel 9999 2>&1 | grep -q "No run 9999"'

# systemctl stop runner-agent: the same sequence for every run.
cat >"$work/stop.yml" <<YML
jobs:
  a:
    steps:
      - run: |
          trap '' INT
          touch $marks/stop.ready
          sleep 1000
      - if: always()
        run: echo "cleanup during agent stop"
YML
rm -f $marks/*.ready
id=$(runnerctl run "$work/stop.yml")
wait_for 20 test -e $marks/stop.ready
t0=$(date +%s%N)
systemctl stop runner-agent
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# At least the 500 ms to SIGTERM; the upper bound only catches a hang (the force deadline is 3 s, and
# a force event fails the next check).
check "systemctl stop waited for the cancellation ($ms ms: SIGINT, SIGTERM 500 ms later)" within "$ms" 450 30000
ev=$(journalctl --sync; journalctl -q RUNNER_RUN_ID="$id" _COMM=runner-agent -o json | jq -s '.')
check "… which was requested by the agent stopping and went SIGINT, SIGTERM, without a force" \
        jq -e 'any(.[]; .RUNNER_EVENT == "cancel-requested" and .RUNNER_CANCELLED_BY == "runner-agent stopping") and any(.[]; .RUNNER_EVENT == "interrupt") and any(.[]; .RUNNER_EVENT == "terminate") and all(.[]; .RUNNER_EVENT != "force")' <<<"$ev"
check "… and the cleanup step still ran" bash -c 'jq -e "any(.[]; .RUNNER_EVENT == \"step-concluded\" and .RUNNER_STEP == \"2\" and .RUNNER_CONCLUSION == \"success\")" <<<"$1"' _ "$ev"
check "the state on disk says cancelled" jq -e '.conclusion == "cancelled"' /var/lib/runner-agent/runs/"$id"/state.json
check "no survivors after the agent stopped" test -z "$(survivors)"
systemctl start runner-agent

echo "1..$n"
exit $((failed > 0))
