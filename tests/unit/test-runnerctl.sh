#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# runnerctl's offline commands as a user runs them: output, stderr and exit status.
# Usage: test-runnerctl.sh RUNNERCTL FIXTURES_DIR   (TAP output)
set -u

runnerctl=$1
fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

check() { # description, expected status, expected stdout, command...
        local what=$1 status=$2 expected=$3 out rc
        shift 3
        n=$((n + 1))
        out=$("$@" 2>"$tmp/stderr")
        rc=$?
        if [[ $rc == "$status" && $out == "$expected" ]]; then
                echo "ok $n - $what"
        else
                echo "not ok $n - $what"
                echo "# status $rc (expected $status), stdout: $out"
                echo "# expected stdout: $expected"
                sed 's/^/# stderr: /' "$tmp/stderr"
                failed=$((failed + 1))
        fi
}

stderr_is() { # description, expected stderr
        n=$((n + 1))
        if [[ $(cat "$tmp/stderr") == "$2" ]]; then
                echo "ok $n - $1"
        else
                echo "not ok $n - $1"
                sed 's/^/# stderr: /' "$tmp/stderr"
                echo "# expected: $2"
                failed=$((failed + 1))
        fi
}

cat >"$tmp/ctx.json" <<'JSON'
{"github": {"ref": "refs/heads/main", "event_name": "push"}, "job": {"status": "failure"},
 "steps": {"build": {"outputs": {"list": "[1, 2, 3]"}}}}
JSON

check "eval format()" 0 '"a-1"' "$runnerctl" eval "format('{0}-{1}', 'a', 1)"
check "eval --if with job.status failure is false" 0 false \
        "$runnerctl" eval --context "$tmp/ctx.json" --if "github.ref == 'refs/heads/main'"
check "eval --if with \${{ }} and always()" 0 true \
        "$runnerctl" eval --context "$tmp/ctx.json" --if "\${{ always() && github.event_name == 'push' }}"
check "eval --if failure()" 0 true "$runnerctl" eval --context "$tmp/ctx.json" --if "failure()"
check "eval --if without a context is success" 0 true "$runnerctl" eval --if "success() && !cancelled()"
check "eval prints objects as pretty JSON" 0 $'[\n  1,\n  2,\n  3\n]' \
        "$runnerctl" eval --context "$tmp/ctx.json" "fromJSON(steps.build.outputs.list)"
check "eval a template" 0 '"ref: refs/heads/main"' \
        "$runnerctl" eval --context "$tmp/ctx.json" 'ref: ${{ github.ref }}'
check "eval an error exits 1" 1 "" "$runnerctl" eval "github.ref =="
stderr_is "eval error names the column" "runnerctl: column 12: Unexpected end of expression: '=='
  github.ref ==
             ^"
check "eval an unknown context" 1 "" "$runnerctl" eval "foo.bar"
stderr_is "unknown context message" "runnerctl: column 1: Unrecognized named-value: 'foo'
  foo.bar
  ^"
echo '[1]' >"$tmp/array.json"
check "a context file that is not an object" 1 "" "$runnerctl" eval --context "$tmp/array.json" "1"
stderr_is "context file message" "runnerctl: $tmp/array.json: expected a JSON object of contexts, got Array"
echo '{"github":' >"$tmp/broken.json"
check "a context file that is not JSON" 1 "" "$runnerctl" eval --context "$tmp/broken.json" "1"
check "a missing context file" 1 "" "$runnerctl" eval --context "$tmp/none.json" "1"
stderr_is "missing file message" "runnerctl: $tmp/none.json: No such file or directory"
check "eval without an expression is a usage error" 2 "" "$runnerctl" eval
check "an unknown command is a usage error" 2 "" "$runnerctl" frobnicate

check "validate a valid workflow" 0 "$fixtures/valid/cleanup.yml: valid: 3 jobs, 7 steps" \
        "$runnerctl" validate "$fixtures/valid/cleanup.yml"
check "validate an invalid workflow exits 1" 1 "" "$runnerctl" validate "$fixtures/invalid/needs.yml"
stderr_is "validate prints every error as FILE:LINE:COLUMN: MESSAGE" \
        "$(sed "s|^|$fixtures/invalid/needs.yml:|" "$fixtures/invalid/needs.expected")"
check "validate a missing file" 1 "" "$runnerctl" validate "$tmp/none.yml"
stderr_is "missing workflow message" "runnerctl: $tmp/none.yml: No such file or directory"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$tmp/big.yml"
check "validate a file over 1 MiB" 1 "" "$runnerctl" validate "$tmp/big.yml"
stderr_is "size limit message" "$tmp/big.yml:1:1: the file is larger than the limit of 1048576 bytes"
check "validate without a file is a usage error" 2 "" "$runnerctl" validate

echo "1..$n"
exit $((failed > 0))
