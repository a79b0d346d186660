#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Step output benchmark, one run, one table (inside the test container, against the installed agent):
# four output shapes, each run as a step through runner-agent (`runnerctl run --wait`) and as the same
# command writing to a file in the same container (and, for the reader, piped to cat: the floor of any
# copy through a pipe), interleaved, median of $REPS (3) each:
#   short        2,000,000 short lines (`seq 1 2000000`, 15.9 MB)
#   long         100,000 lines of 1,000 bytes (100 MB)
#   one line     100 MB without a newline
#   interleaved  200,000 lines of 91 bytes (18 MB), stdout and stderr alternating in blocks of 4 lines,
#                each block one write(2)
# The sizes keep the whole benchmark around a minute on a busy 2-core machine. Three times of each step:
#   command      the step's own stamps around the command: what the step sees of the copy
#   in the log   from the same first stamp until the log file holds the whole output (the later of the
#                command's end and the log's last modification: up to 8 MiB may still be in the pipe
#                when the command ends): the output phase, which the target is about
#   submitted    `runnerctl run --wait` of the one-step run: the agent's run and step start, the scope,
#                the output, the journal copy's end (runner-step waits up to 2 s for journald to take
#                its queue before the step ends), the run's end; beside it the same for a step that
#                prints nothing, the fixed cost that has nothing to do with output
# The target is 1.1× the direct write for the output phase (README, "Benchmarks").
# The three ways are run in turn, $REPS times, so that the machine's noise hits them alike; the table
# gives each one's median, and the ratio of runner-agent's to the direct write and to the pipe floor
# (piped to cat: no copy through a pipe can beat it, and for some shapes it is well above the file).
# Then the journal copy: a step printing 5,000 lines has all of them in journald; a flood (10,000,000
# lines) beside a normal step in another job: the normal step's lines are all in journald, the flood's
# gap is stated (lines sent + lines stated left out = lines written), both logs are complete. Then
# MaxStepLogSize= in agent.conf (runner-step --max-log-size) and a full disk (the logs redirected by a
# wrapper of runner-step named by RUNNER_STEP_PATH to a 1 MiB tmpfs).
# The exit status judges what is broken whatever the machine: a log that is not byte for byte what
# the step wrote (per stream for the interleaved shape: across two pipes only each stream's own order
# is defined), a journal line lost from a normal step, a missing or wrong gap notice, a step failed or
# slowed by the size limit or a full disk, or runner-agent's output phase above 3× the pipe floor of
# the same run (far outside: measured 0.65–1.08× in four runs here; the CI machine is shared and
# noisy, and the floor itself varies).
#
#   [REPS=N] [BENCH_SHIM=RUNNER-STEP] bench-output.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/../system/lib.sh"
require_test_container

reps=${REPS:-5}
work=$(mktemp -d /srv/bench-output.XXXXXX)
chmod 0777 "$work"
dropin=/run/systemd/system/runner-agent.service.d/50-bench-output.conf
cleanup() {
        umount "$work/full" 2>/dev/null
        rm -rf "$work"
        rm -f /etc/runner-agent/agent.conf.d/*.conf /usr/local/libexec/bench-output-shim "$dropin"
        systemctl daemon-reload
}
trap cleanup EXIT

install_agent "$build"
shim=$(systemctl show -P Environment runner-agent | tr ' ' '\n' | sed -n 's/^RUNNER_STEP_PATH=//p')
[[ -n $shim ]] || shim=$(find /usr/lib /usr/libexec -name runner-step -type f 2>/dev/null | head -1)
# BENCH_SHIM=FILE: measure that runner-step instead of the build's (the table before a change).
[[ -n ${BENCH_SHIM:-} ]] && install -m 0755 "$BENCH_SHIM" "$shim"
rm -f /etc/runner-agent/agent.conf.d/*.conf
mkdir -p /etc/runner-agent/agent.conf.d
printf '[Agent]\nMaxParallelJobs=infinity\n' >/etc/runner-agent/agent.conf.d/40-bench-output.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

logs_of() { echo "/var/lib/runner-agent/runs/$1/logs"; }
med() { sort -g | awk '{ a[++n] = $1 } END { print n ? a[int((n + 1) / 2)] : "nan" }'; }

declare -A cmd
cmd[short]='seq 1 2000000'
# Not `yes | head`: the test container's services ignore SIGPIPE, so yes would complain on stderr.
cmd[long]='perl -e '"'"'$l = "0" x 1000 . "\n"; print $l for 1 .. 100000'"'"
cmd[oneline]='head -c 100000000 /dev/zero | tr "\\0" x'
cmd[interleaved]='perl -e '"'"'for $i (0 .. 24999) { for $fh (*STDOUT, *STDERR) { $b = ""; $b .= sprintf("%s %07d %s\n", $fh eq *STDOUT ? "o" : "e", $i * 8 + ($fh eq *STDOUT ? 0 : 4) + $_, "x" x 80) for 0 .. 3; syswrite $fh, $b } }'"'"
shapes=(short long oneline interleaved)
declare -A label=([short]="2,000,000 short lines (seq)" [long]="100,000 lines of 1,000 bytes"
        [oneline]="100 MB, no newline" [interleaved]="stdout+stderr interleaved, 200,000 lines")

# step_yml NAME: a workflow whose one step runs the shape's command between two stamps
step_yml() {
        cat >"$work/$1.sh" <<EOF
s=\$EPOCHREALTIME
${cmd[$1]}
e=\$EPOCHREALTIME
echo "\$s \$e" >$work/$1.time
EOF
        printf 'jobs:\n  out: { steps: [ { run: "bash %s/%s.sh" } ] }\n' "$work" "$1" >"$work/$1.yml"
}
elapsed() { awk '{ printf "%.4f\n", $2 - $1 }' "$1" 2>/dev/null || echo nan; }

# The later of the command's end and the log's last modification, from the command's start. The
# modification time may be up to a clock tick early (the kernel's coarse timestamps), hence the max.
in_log() { # in_log TIMEFILE LOG
        awk -v m="$(stat -c %.9Y "$2" 2>/dev/null)" '{ e = (m > $2 ? m : $2); printf "%.4f\n", e - $1 }' "$1" 2>/dev/null ||
                echo nan
}
# submitted YML: seconds from submission to the run's end; the run's id in $id
submitted() {
        local t0=$EPOCHREALTIME t1
        id=$(runnerctl run --wait "$1") || return 1
        t1=$EPOCHREALTIME
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$work/submitted"
}

# A step that prints nothing: the fixed cost of a step, from submission to the run's end.
printf 'jobs:\n  out: { steps: [ { run: "true" } ] }\n' >"$work/empty.yml"
rm -f "$work/submitted"
for ((r = 1; r <= reps; r++)); do
        submitted "$work/empty.yml" || { echo "Bail out! the empty step failed (run $id)"; exit 1; }
done
t_empty=$(med <"$work/submitted")

declare -A t_agent t_out t_sub t_file t_pipe ratio cratio pratio ok_log j_sent j_left
for s in "${shapes[@]}"; do
        step_yml "$s"
        a=() o=() f=() c=()
        rm -f "$work/submitted"
        for ((r = 1; r <= reps; r++)); do
                # The floor of any copy through a pipe, for the reader: the same command piped to cat.
                ( cd "$work" && bash -c "s=\$EPOCHREALTIME; { ${cmd[$s]}; } 2>&1 | cat >$work/$s.piped; e=\$EPOCHREALTIME; echo \"\$s \$e\" >$work/$s.time" )
                c+=("$(elapsed "$work/$s.time")")
                rm -f "$work/$s.piped"
                rm -f "$work/$s.time" "$work/$s.expected"
                ( cd "$work" && bash -c "s=\$EPOCHREALTIME; { ${cmd[$s]}; } >$work/$s.expected 2>&1; e=\$EPOCHREALTIME; echo \"\$s \$e\" >$work/$s.time" )
                f+=("$(elapsed "$work/$s.time")")
                rm -f "$work/$s.time"
                submitted "$work/$s.yml" || { echo "Bail out! the $s step failed (run $id)"; exit 1; }
                a+=("$(elapsed "$work/$s.time")")
                o+=("$(in_log "$work/$s.time" "$(logs_of "$id")/j1-s1.log")")
                last_id=$id
        done
        t_agent[$s]=$(printf '%s\n' "${a[@]}" | med)
        t_out[$s]=$(printf '%s\n' "${o[@]}" | med)
        t_sub[$s]=$(med <"$work/submitted")
        t_file[$s]=$(printf '%s\n' "${f[@]}" | med)
        t_pipe[$s]=$(printf '%s\n' "${c[@]}" | med)
        ratio[$s]=$(awk -v a="${t_out[$s]}" -v f="${t_file[$s]}" 'BEGIN { printf "%.2f", (f > 0 ? a / f : 999) }')
        cratio[$s]=$(awk -v a="${t_agent[$s]}" -v f="${t_file[$s]}" 'BEGIN { printf "%.2f", (f > 0 ? a / f : 999) }')
        pratio[$s]=$(awk -v a="${t_out[$s]}" -v f="${t_pipe[$s]}" 'BEGIN { printf "%.2f", (f > 0 ? a / f : 999) }')
        say "$s: file ${f[*]}; pipe ${c[*]}; runner-agent: command ${a[*]}, in the log ${o[*]}, submitted $(paste -sd ' ' "$work/submitted")"
        log="$(logs_of "$last_id")/j1-s1.log"
        if [[ $s == interleaved ]]; then
                # Each stream's bytes in its own order; across the two pipes only as far as they allow.
                ok_log[$s]=no
                cmp -s <(grep '^o' "$log") <(grep '^o' "$work/$s.expected") &&
                        cmp -s <(grep '^e' "$log") <(grep '^e' "$work/$s.expected") &&
                        [[ $(stat -c %s "$log") == $(stat -c %s "$work/$s.expected") ]] && ok_log[$s]=yes
                # Lines numbered in the order written: how many follow the one before them as written.
                inorder=$(awk 'NR > 1 && $2 > prev { c++ } { prev = $2 } END { print c + 0 }' "$log")
                ok_log[$s]="${ok_log[$s]}, $inorder of 199,999 lines after their predecessor as written"
        else
                ok_log[$s]=$(cmp "$log" "$work/$s.expected" 2>&1) && ok_log[$s]=yes || ok_log[$s]="no: ${ok_log[$s]//|/ }"
        fi
        journalctl --sync
        j_sent[$s]=$(journalctl -q RUNNER_RUN_ID="$last_id" SYSLOG_IDENTIFIER=runner-step -o json |
                jq -r 'select(.RUNNER_LINES_LEFT_OUT == null) | 1' | grep -c .)
        j_left[$s]=$(journalctl -q RUNNER_RUN_ID="$last_id" -o json | jq -r '.RUNNER_LINES_LEFT_OUT // empty' | head -1)
        rm -f "$work/$s.expected"
done

# ---- the journal copy: a normal step alone, then beside a flood ----
printf 'jobs:\n  normal: { steps: [ { run: "seq -f %s 5000" } ] }\n' "'normal %g'" >"$work/normal.yml"
id=$(runnerctl run --wait "$work/normal.yml") || { echo "Bail out! the normal step failed"; exit 1; }
journalctl --sync
normal_alone=$(journalctl -q RUNNER_RUN_ID="$id" -o cat | grep -c '^normal ')
normal_alone_notice=$(journalctl -q RUNNER_RUN_ID="$id" -o json | jq -r '.RUNNER_LINES_LEFT_OUT // empty' | grep -c .)

cat >"$work/flood.yml" <<'EOF'
jobs:
  flood: { steps: [ { run: "seq 1 10000000" } ] }
  normal: { steps: [ { run: "for i in $(seq 50); do seq -f \"normal $i %g\" 100; sleep 0.01; done" } ] }
EOF
id=$(runnerctl run --wait "$work/flood.yml") || { echo "Bail out! the flood run failed"; exit 1; }
journalctl --sync
logs=$(logs_of "$id")
flood_log_ok=no; normal_log_ok=no
cmp -s "$logs/j1-s1.log" <(seq 1 10000000) && flood_log_ok=yes
cmp -s "$logs/j2-s1.log" <(for i in $(seq 50); do seq -f "normal $i %g" 100; done) && normal_log_ok=yes
normal_beside=$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_JOB=normal -o cat | grep -c '^normal ')
flood_sent=$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_JOB=flood -o json |
        jq -r 'select(.RUNNER_LINES_LEFT_OUT == null and .SYSLOG_IDENTIFIER == "runner-step") | 1' | grep -c .)
flood_notice=$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_JOB=flood -o json | jq -c 'select(.RUNNER_LINES_LEFT_OUT != null) | {MESSAGE, RUNNER_LINES_LEFT_OUT, RUNNER_STEP, RUNNER_UNIT}')
flood_left=$(jq -r '.RUNNER_LINES_LEFT_OUT' <<<"$flood_notice" 2>/dev/null | head -1)
flood_ends=$(journalctl -q RUNNER_RUN_ID="$id" RUNNER_JOB=flood SYSLOG_IDENTIFIER=runner-step -o cat | grep -E '^[0-9]+$' | sed -n '1p;$p' | paste -sd ' ')

# ---- MaxStepLogSize= and a full disk: runner-step through a wrapper the agent runs instead ----
mkdir -p /usr/local/libexec "$(dirname "$dropin")" "$work/full"
cat >/usr/local/libexec/bench-output-shim <<EOF
#!/bin/bash
# runner-step, its log redirected to \$(cat $work/shim-logdir)
dir=\$(cat $work/shim-logdir 2>/dev/null)
args=()
for a in "\$@"; do
        [[ -n \$dir && \$a == --log=* ]] && a="--log=\$dir/\${a##*/}"
        args+=("\$a")
done
exec $shim "\${args[@]}"
EOF
chmod 0755 /usr/local/libexec/bench-output-shim
printf '[Service]\nEnvironment=RUNNER_STEP_PATH=/usr/local/libexec/bench-output-shim\n' >"$dropin"
systemctl daemon-reload
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }

# 1,000,000-byte limit on 2,000,000 short lines: the first 900,000 and the last 100,000 bytes, a marker
mkdir -p /etc/runner-agent/agent.conf.d
printf '[Agent]\nMaxStepLogSize=1000000\n' >/etc/runner-agent/agent.conf.d/50-bench-output.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }
seq 1 2000000 >"$work/seq.expected"
cut_status=ok
a=()
for ((r = 1; r <= reps; r++)); do
        rm -f "$work/short.time"
        id=$(runnerctl run --wait "$work/short.yml") || cut_status="the step failed"
        a+=("$(elapsed "$work/short.time")")
done
cut_time=$(printf '%s\n' "${a[@]}" | med)
log="$(logs_of "$id")/j1-s1.log"
cut_size=$(stat -c %s "$log")
cut_marker=$(tail -c +900001 "$log" 2>/dev/null | head -c 1000 | grep -a '^\[runner-step')
total=$(stat -c %s "$work/seq.expected")
cut_ok=no
cmp -s <(head -c 900000 "$log") <(head -c 900000 "$work/seq.expected") &&
        cmp -s <(tail -c 100000 "$log") <(tail -c 100000 "$work/seq.expected") &&
        grep -q "^\[runner-step: $((total - 1000000)) bytes" <<<"$cut_marker" && cut_ok=yes

# A full disk: the logs go to a 1 MiB tmpfs; the step must succeed and not be slowed, the error be told
rm -f /etc/runner-agent/agent.conf.d/50-bench-output.conf
systemctl restart runner-agent || { echo "Bail out! runner-agent did not restart"; exit 1; }
echo "$work/full" >"$work/shim-logdir"
full_status=ok
a=()
for ((r = 1; r <= reps; r++)); do
        mount -t tmpfs -o size=1m,mode=0777 bench-output-full "$work/full"
        rm -f "$work/short.time"
        id=$(runnerctl run --wait "$work/short.yml") || full_status="the step failed"
        a+=("$(elapsed "$work/short.time")")
        umount "$work/full"
done
full_time=$(printf '%s\n' "${a[@]}" | med)
journalctl --sync
full_told=$(journalctl -q RUNNER_RUN_ID="$id" -o cat | grep -c 'No space left on device')
# The shim's stderr is the agent's: a stream entry, not one of the journal copy's. Once a run.
full_told_agent=$(journalctl -q _TRANSPORT=stdout -o cat | grep -c "j1-s1.log: No space left on device")
rm -f "$work/shim-logdir" "$dropin"
systemctl daemon-reload
systemctl restart runner-agent

# ---- the table ----
row() { # row SHAPE
        local s=$1
        printf '| %s | %s | %s | %s | %s | %s× | %s× | %s× | %s | %s | %s sent, %s stated left out |\n' "${label[$s]}" \
                "${t_file[$s]}" "${t_pipe[$s]}" "${t_agent[$s]}" "${t_out[$s]}" "${cratio[$s]}" "${ratio[$s]}" \
                "${pratio[$s]}" "${t_sub[$s]}" "${ok_log[$s]}" "${j_sent[$s]}" "${j_left[$s]:-none}"
}
x() { awk -v a="$1" -v f="$2" 'BEGIN { printf "%.2f", (f > 0 ? a / f : 999) }'; }
say "$(
        echo "| step output (median of $reps) | to a file (s) | piped to cat (s) | runner-agent: command (s) | runner-agent: in the log (s) | command ÷ file | in the log ÷ file (target 1.1×) | in the log ÷ pipe floor | submitted → run ended (s) | log identical | journal |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|"
        for s in "${shapes[@]}"; do row "$s"; done
        echo "| a step that prints nothing | | | | | | | | $t_empty | | |"
        echo "| MaxStepLogSize=1000000, 2,000,000 short lines (median of $reps) | ${t_file[short]} | ${t_pipe[short]} | $cut_time | | $(x "$cut_time" "${t_file[short]}")× | | | | head+tail+marker: $cut_ok, $cut_size bytes | |"
        echo "| full disk (1 MiB), 2,000,000 short lines (median of $reps) | ${t_file[short]} | ${t_pipe[short]} | $full_time | | $(x "$full_time" "${t_file[short]}")× | | | | step: $full_status | told: journal $full_told, agent's stderr $full_told_agent |"
        echo "| journal: 5,000 lines alone | | | | | | | | | | $normal_alone in journald, notices $normal_alone_notice |"
        echo "| journal: 5,000 lines beside a 10,000,000-line flood | | | | | | | | | logs: flood $flood_log_ok, normal $normal_log_ok | normal $normal_beside; flood $flood_sent sent + ${flood_left:-no notice} stated |"
)"
say "the flood's notice: $flood_notice"
say "the flood's journal copy: first and last line $flood_ends"
say "the cut log's marker: $cut_marker"

# ---- the gates: broken, not slow ----
for s in "${shapes[@]}"; do
        [[ ${ok_log[$s]} == yes* ]] && ok "$s: the log is the step's output, byte for byte" ||
                not_ok "$s: the log differs from the step's output (${ok_log[$s]})"
        awk -v r="${pratio[$s]}" 'BEGIN { exit !(r != "" && r + 0 <= 3) }' &&
                ok "$s: output in the log at ${pratio[$s]}× the pipe floor, ${ratio[$s]}× the direct write (target 1.1×; fails above 3× the floor)" ||
                not_ok "$s: output in the log at ${pratio[$s]}× the pipe floor, ${ratio[$s]}× the direct write (fails above 3× the floor)"
done
[[ $normal_alone -eq 5000 && $normal_alone_notice -eq 0 ]] && ok "a 5,000-line step has all its lines in journald, no gap notice" ||
        not_ok "a 5,000-line step: $normal_alone lines in journald, $normal_alone_notice gap notices"
[[ $normal_beside -eq 5000 ]] && ok "beside a flood, the normal step has all 5,000 lines in journald" ||
        not_ok "beside a flood, the normal step has $normal_beside of 5,000 lines in journald"
[[ -n $flood_left ]] && (( flood_sent + flood_left == 10000000 )) &&
        ok "the flood's gap is stated: $flood_sent lines sent + $flood_left stated left out = 10,000,000" ||
        not_ok "the flood's gap: $flood_sent lines sent, notice: ${flood_notice:-none}"
[[ $flood_ends == "1 10000000" ]] && ok "the flood's journal copy has its first and its last line" ||
        not_ok "the flood's journal copy begins and ends with: $flood_ends"
[[ $flood_log_ok == yes && $normal_log_ok == yes ]] && ok "both logs complete beside each other" ||
        not_ok "logs: flood $flood_log_ok, normal $normal_log_ok"
[[ $cut_status == ok && $cut_ok == yes ]] && ok "MaxStepLogSize=1000000 keeps the head and the tail, and says what was cut" ||
        not_ok "MaxStepLogSize=1000000: $cut_status, head+tail+marker $cut_ok ($cut_size bytes, marker '$cut_marker')"
awk -v a="$cut_time" -v f="${t_file[short]}" 'BEGIN { exit !(a <= 5 * f) }' &&
        ok "MaxStepLogSize=1000000 does not slow the step (${cut_time} s)" || not_ok "MaxStepLogSize=1000000: ${cut_time} s"
[[ $full_status == ok ]] && awk -v a="$full_time" -v f="${t_file[short]}" 'BEGIN { exit !(a <= 5 * f) }' &&
        ok "a full disk neither fails nor slows the step (${full_time} s)" || not_ok "full disk: $full_status, ${full_time} s"
[[ $full_told -eq 1 && $full_told_agent -eq $reps ]] && ok "the full disk is told once in the journal copy and once on the shim's stderr (a step)" ||
        not_ok "the full disk was told $full_told times in the journal copy, $full_told_agent on the shim's stderr in $reps steps"
echo "1..$n"
exit $((failed > 0))
