#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A step's output in its log and in the journal (README, "Running workflows"), inside the throwaway
# container, against the installed agent. TAP output.
# - Once both streams have written, a line of one is never cut by the other's: a step writing each
#   stdout line in two pieces with a stderr line between them has every line whole in its log.
# - The journal copy's entries carry runner-step's short process title as _CMDLINE, below journald's
#   compression threshold (512 bytes), not its command line of paths and fields.
#
#   test-output.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

work=$(mktemp -d /srv/test-output.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

# Each stdout line in two writes, a whole stderr line written between them, 3,000 times.
cat >"$work/pieces.pl" <<'PL'
syswrite STDERR, "start\n";
for my $i (1 .. 3000) {
        syswrite STDOUT, "o$i-AAAA";
        syswrite STDERR, "e$i\n";
        syswrite STDOUT, "-BBBB\n";
}
PL
printf 'jobs:\n  j: { steps: [ { run: "perl %s/pieces.pl" } ] }\n' "$work" >"$work/pieces.yml"
id=$(runnerctl run --wait "$work/pieces.yml")
log=/var/lib/runner-agent/runs/$id/logs/j1-s1.log
check "the step writing its lines in pieces succeeded (run $id)" completed "$id"
cut=$(grep -Evc '^(start|e[0-9]+|o[0-9]+-AAAA-BBBB)$' "$log")
say "lines cut by the other stream: $cut; first: $(grep -Ev '^(start|e[0-9]+|o[0-9]+-AAAA-BBBB)$' "$log" | head -3 | paste -sd '|')"
check "no line of stdout is cut by a line of stderr in the log" test "$cut" -eq 0
check "… and every line is there: 3,000 of stdout, 3,001 of stderr" \
        test "$(grep -c '^o' "$log")" -eq 3000 -a "$(grep -Ec '^(e|start)' "$log")" -eq 3001
check "… in each stream's own order" \
        cmp -s <(grep '^o' "$log") <(seq -f 'o%g-AAAA-BBBB' 3000)

# The journal copy's _CMDLINE: runner-step's title, not its 800-byte command line.
journalctl --sync
cmdlines=$(journalctl -q RUNNER_RUN_ID="$id" SYSLOG_IDENTIFIER=runner-step -o json | jq -r '._CMDLINE' | sort -u)
say "_CMDLINE of the journal copy: $cmdlines"
check "the journal copy's entries carry runner-step's title as _CMDLINE" \
        test "$cmdlines" = "runner-step runner-r$id-j1-s1.scope"
check "… well below journald's compression threshold of 512 bytes" test "${#cmdlines}" -lt 512
check "… and the journal has every line of the step" \
        test "$(journalctl -q RUNNER_RUN_ID="$id" SYSLOG_IDENTIFIER=runner-step -o cat | grep -Ec '^(start|e[0-9]+|o[0-9]+-AAAA-BBBB)$')" -eq 6001

echo "1..$n"
exit $((failed > 0))
