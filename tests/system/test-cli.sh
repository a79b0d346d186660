#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# runnerctl against the installed agent, inside the throwaway container: options after the operands,
# the plain refusal for users outside runner-admin from both locks (the bus policy and the agent's own
# check) and with --verbose, the agent not running, and workflow text with terminal control characters
# printed escaped by status, list and events (README: "runnerctl"). TAP output.
#
#   test-cli.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

open_policy=/etc/dbus-1/system.d/zz-test-cli-open.conf
work=$(mktemp -d /srv/test-cli.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"; rm -f "$open_policy"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

denied="runnerctl: access denied: only root and members of the group runner-admin may use runner-agent"
reload_bus() { busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig; }
as_nobody() { runuser -u nobody -- runnerctl "$@"; }
# expect WHAT STATUS STDERR COMMAND...: the exit status and the exact standard error
expect() {
        local what=$1 status=$2 expected=$3 err rc
        shift 3
        err=$("$@" 2>&1 >/dev/null); rc=$?
        if [[ $rc == "$status" && $err == "$expected" ]]; then
                ok "$what"
        else
                not_ok "$what"
                say "exit status $rc (expected $status), stderr:"
                say "$err"
        fi
}

# ---- 1. options after the operands, through the agent ----
printf 'jobs:\n  long:\n    steps:\n      - run: sleep 1000\n' >"$work/long.yml"
id=$(runnerctl run "$work/long.yml")
wait_for 20 bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[0].status == \"in_progress\"'"
out=$(runnerctl cancel "$id" --force 2>&1); rc=$?
say "cancel $id --force: $out"
check "runnerctl cancel RUN --force exits 0" test "$rc" -eq 0
check "and killed everything at once" grep -qx "Run $id: everything still running was killed." <<<"$out"
check "the run completes cancelled" wait_for 20 bash -c \
        "runnerctl status $id --json | jq -e '.status == \"completed\" and .conclusion == \"cancelled\"'"
check "runnerctl list --json after the verb" bash -c "runnerctl list --json | jq -e 'length >= 1'"
check "runnerctl list exits 0" runnerctl list
check "runnerctl status without a run lists, exit 0" runnerctl status
check "runnerctl status RUN exits 0" runnerctl status "$id"
useradd --system --no-create-home -G runner-admin cli-tester 2>/dev/null || true
check "a member of runner-admin may list, exit 0" runuser -u cli-tester -- runnerctl list

# ---- 2. users outside runner-admin: the bus policy refuses ----
expect "the bus policy's refusal is one plain line and exit 4" 4 "$denied" as_nobody list
expect "the same for status RUN" 4 "$denied" as_nobody status "$id"
err=$(as_nobody list --verbose 2>&1); rc=$?
say "nobody, --verbose: $err"
check "--verbose adds the D-Bus error: exit 4" test "$rc" -eq 4
check "--verbose: the plain line first" test "$(head -n 1 <<<"$err")" = "$denied"
check "--verbose: then the bus's error name and message" \
        grep -q "^runnerctl: ListRuns: org.freedesktop.DBus.Error.AccessDenied: .*[Rr]ejected" <<<"$err"

# ---- 3. the agent's own check, with the bus policy opened for everyone ----
cat >"$open_policy" <<'XML'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy context="default"><allow send_destination="io.runneragent.Agent1"/></policy></busconfig>
XML
reload_bus
expect "the agent's own refusal is the same line and exit 4" 4 "$denied" as_nobody list
expect "also for run (Submit)" 4 "$denied" as_nobody run "$work/long.yml"
err=$(as_nobody -v list 2>&1); rc=$?
say "nobody, bus policy open, -v: $err"
check "-v names the agent's AccessDenied and its message" bash -c "[[ $rc -eq 4 ]] && grep -q \
        '^runnerctl: ListRuns: org.freedesktop.DBus.Error.AccessDenied: Only root and members of runner-admin may use runner-agent (caller UID [0-9]*)' <<<'$err'"
rm -f "$open_policy"
reload_bus

# ---- 4. workflow text with terminal control characters ----
# A window title (OSC ... BEL), clear screen (CSI 2J), colour and newlines, in the workflow's name,
# a job's name, a step's name, and the file's own name (the run's source).
src=$work/$'src \e]0;pwned\a\n.yml'
cat >"$src" <<'YML'
name: "wf \e]0;pwned\a\e[2J\nnext"
jobs:
  build:
    name: "j \e[2J\a\nx"
    steps:
      - name: "s \e]0;p\a\ny"
        run: echo hi
YML
id=$(runnerctl run --wait "$src" 2>"$work/run.err"); rc=$?
say "run --wait $id: exit $rc: $(cat -v "$work/run.err")"
check "the run with control characters succeeds" test "$rc" -eq 0
check "run --wait's last line has no control character" bash -c "! grep -q $'[\e\a]' '$work/run.err'"

raw() { # raw FILE: no ESC, BEL or other control byte but newline and the escapes instead
        LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1" && return 1
        grep -qF '\x1b' "$1" && grep -qF '\x07' "$1"
}
runnerctl status "$id" >"$work/status.txt" 2>&1
cat -v "$work/status.txt" | sed 's/^/# status: /'
check "runnerctl status prints no ESC (grep -c \$'\\e': $(grep -c $'\e' "$work/status.txt"))" \
        test "$(grep -c $'\e' "$work/status.txt")" -eq 0
check "runnerctl status prints no BEL or other control byte, but \\x1b and \\x07" raw "$work/status.txt"
check "status: the workflow name escaped, on the run's line" \
        grep -qF "Run $id (wf \\x1b]0;pwned\\x07\\x1b[2J\\nnext, $work/src \\x1b]0;pwned\\x07\\n.yml): completed, success" \
        "$work/status.txt"
check "status: the job name escaped, on the job's line" \
        grep -qE '^build +- +j \\x1b\[2J\\x07\\nx +completed +success +success' "$work/status.txt"
check "status: the step name escaped, on the step's line" \
        grep -qE '^ +1 +s \\x1b\]0;p\\x07\\ny +completed +success' "$work/status.txt"
check "status: six lines, none split" test "$(wc -l <"$work/status.txt")" -eq 6

runnerctl list >"$work/list.txt" 2>&1
cat -v "$work/list.txt" | sed 's/^/# list: /'
check "runnerctl list prints no ESC (grep -c \$'\\e': $(grep -c $'\e' "$work/list.txt"))" \
        test "$(grep -c $'\e' "$work/list.txt")" -eq 0
check "runnerctl list prints no BEL or other control byte, but \\x1b and \\x07" raw "$work/list.txt"
check "list: the run's name (cut at 24 columns) and source escaped, on one line" \
        grep -qF "wf \\x1b]0;pwned\\x07\\x1b[ $work/src \\x1b]0;pwned\\x07\\n.yml" "$work/list.txt"
check "the same run through --json keeps the exact bytes" bash -c \
        "runnerctl status --json $id | jq -e '.name == \"wf \\u001b]0;pwned\\u0007\\u001b[2J\\nnext\" and .jobs[0].steps[0].name == \"s \\u001b]0;p\\u0007\\ny\"'"

# The loader's messages quote the workflow's text; run prints them as validate does.
printf 'jobs:\n  a:\n    steps:\n      - run: echo\n        "\\e]0;pwned\\a": 1\n' >"$work/bad.yml"
runnerctl run "$work/bad.yml" >/dev/null 2>"$work/bad.txt"; rc=$?
cat -v "$work/bad.txt" | sed 's/^/# run bad.yml: /'
check "run of an invalid workflow exits 1" test "$rc" -eq 1
check "and prints the loader's message escaped" grep -qF "bad.yml:5:9: unknown key '\x1b]0;pwned\x07' in a step" "$work/bad.txt"
check "with no control byte" bash -c "! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' '$work/bad.txt'"

journalctl --sync
runnerctl events "$id" >"$work/events.txt" 2>&1
cat -v "$work/events.txt" | sed 's/^/# events: /'
check "runnerctl events prints no ESC (grep -c \$'\\e': $(grep -c $'\e' "$work/events.txt"))" \
        test "$(grep -c $'\e' "$work/events.txt")" -eq 0
check "runnerctl events prints no BEL or other control byte, but \\x1b and \\x07" raw "$work/events.txt"

# ---- 5. the agent not running ----
systemctl stop runner-agent
expect "with the agent stopped: one plain line and exit 7" 7 \
        "runnerctl: runner-agent is not running (systemctl start runner-agent)" runnerctl list
expect "the same for status RUN" 7 \
        "runnerctl: runner-agent is not running (systemctl start runner-agent)" runnerctl status 1

echo "1..$n"
exit $((failed > 0))
