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
hint="Try 'runnerctl --help' for more information."
check "eval without an expression is a usage error" 2 "" "$runnerctl" eval
stderr_is "a usage error is one line and the hint, not the help" \
        "runnerctl: too few arguments for eval; usage: runnerctl eval [--context FILE.json] [--if] 'EXPRESSION'
$hint"
check "an unknown command is a usage error" 2 "" "$runnerctl" frobnicate
stderr_is "unknown command message" "runnerctl: unknown command 'frobnicate'
$hint"
check "no command is a usage error" 2 "" "$runnerctl"
stderr_is "no command message" "runnerctl: no command given
$hint"
check "cancel without a run is a usage error" 2 "" "$runnerctl" cancel
stderr_is "cancel without a run message" "runnerctl: too few arguments for cancel; usage: runnerctl cancel [--force] RUN
$hint"
check "too many operands are a usage error" 2 "" "$runnerctl" list 3
stderr_is "too many operands message" "runnerctl: too many arguments for list; usage: runnerctl list [--json]
$hint"
check "an unknown option is a usage error" 2 "" "$runnerctl" list --frobnicate
stderr_is "unknown option message" "runnerctl: unknown option '--frobnicate'
$hint"
check "an unknown short option after the operands is a usage error" 2 "" "$runnerctl" eval 1 -x
stderr_is "unknown short option message" "runnerctl: unknown option '-x'
$hint"
check "an option of another command is a usage error" 2 "" "$runnerctl" cancel --json 3
stderr_is "the message names the option and the command" "runnerctl: option '--json' does not apply to cancel
$hint"
check "-f of cancel and logs does not apply to list" 2 "" "$runnerctl" list -f
stderr_is "-f message" "runnerctl: option '-f' does not apply to list
$hint"
check "a value for an option that takes none" 2 "" "$runnerctl" list --json=yes
stderr_is "option value message" "runnerctl: option '--json=yes' takes no value
$hint"
check "--context without its file" 2 "" "$runnerctl" eval 1 --context
stderr_is "missing option value message" "runnerctl: option '--context' needs a value
$hint"
check "a run id that is not a number" 2 "" "$runnerctl" status 3x
stderr_is "run id message" "runnerctl: '3x' is not a run id
$hint"
check "--help after the command and its operands prints the help" 0 "$("$runnerctl" --help)" \
        "$runnerctl" validate "$fixtures/valid/cleanup.yml" --help
check "runnerctl help prints it too" 0 "$("$runnerctl" --help)" "$runnerctl" help

check "options after the operand: eval EXPR --if" 0 true "$runnerctl" eval "success()" --if
check "options after the operand: eval EXPR --context FILE" 0 '"refs/heads/main"' \
        "$runnerctl" eval "github.ref" --context "$tmp/ctx.json"
check "-- ends the options" 0 -1 "$runnerctl" eval --context "$tmp/ctx.json" -- -1
check "options after the operand: cancel RUN --force gets to the bus" 7 "" \
        env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-bus" "$runnerctl" cancel 3 --force
stderr_is "no system bus is said plainly" "runnerctl: cannot connect to the system bus: No such file or directory"

check "validate a valid workflow" 0 "$fixtures/valid/cleanup.yml: valid: 3 jobs, 7 steps" \
        "$runnerctl" validate "$fixtures/valid/cleanup.yml"
check "validate accepts strategy and checks its matrix" 0 "$fixtures/valid/matrix.yml: valid: 4 jobs, 4 steps" \
        "$runnerctl" validate "$fixtures/valid/matrix.yml"
check "validate an invalid matrix exits 1" 1 "" "$runnerctl" validate "$fixtures/invalid/matrix.yml"
stderr_is "validate gives each matrix error its line and column" \
        "$(sed "s|^|$fixtures/invalid/matrix.yml:|" "$fixtures/invalid/matrix.expected")"
check "validate accepts concurrency" 0 "$fixtures/valid/concurrency.yml: valid: 2 jobs, 2 steps" \
        "$runnerctl" validate "$fixtures/valid/concurrency.yml"
check "validate accepts JavaScript and composite actions" 0 "$fixtures/valid/actions.yml: valid: 1 job, 5 steps" \
        "$runnerctl" validate "$fixtures/valid/actions.yml"
check "validate refuses bad uses: and container actions at their line" 1 "" \
        "$runnerctl" validate "$fixtures/invalid/uses.yml"
stderr_is "validate names each bad uses: at its line and column" \
        "$(sed "s|^|$fixtures/invalid/uses.yml:|" "$fixtures/invalid/uses.expected")"
check "validate an invalid concurrency exits 1" 1 "" "$runnerctl" validate "$fixtures/invalid/concurrency.yml"
stderr_is "validate gives each concurrency error its line and column" \
        "$(sed "s|^|$fixtures/invalid/concurrency.yml:|" "$fixtures/invalid/concurrency.expected")"
check "validate an invalid workflow exits 1" 1 "" "$runnerctl" validate "$fixtures/invalid/needs.yml"
stderr_is "validate prints every error as FILE:LINE:COLUMN: MESSAGE" \
        "$(sed "s|^|$fixtures/invalid/needs.yml:|" "$fixtures/invalid/needs.expected")"
check "validate a missing file" 1 "" "$runnerctl" validate "$tmp/none.yml"
stderr_is "missing workflow message" "runnerctl: $tmp/none.yml: No such file or directory"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$tmp/big.yml"
check "validate a file over 1 MiB" 1 "" "$runnerctl" validate "$tmp/big.yml"
stderr_is "size limit message" "$tmp/big.yml:1:1: the file is larger than the limit of 1048576 bytes"
# run's contexts and source: checked before the agent is asked (none runs here)
check "--source and --no-source together are a usage error" 2 "" "$runnerctl" run --source . --no-source x.yml
stderr_is "--source with --no-source message" "runnerctl: --source and --no-source exclude each other
Try 'runnerctl --help' for more information."
check "--var with a bad name is a usage error" 2 "" "$runnerctl" run --var GITHUB_TOKEN=x x.yml
check "--input without = is a usage error" 2 "" "$runnerctl" run --input x x.yml
check "--event with a bad name is a usage error" 2 "" "$runnerctl" run --event Push x.yml
check "--var does not apply to eval" 2 "" "$runnerctl" eval --var a=b 1
printf 'A=1\n2B=x\n' >"$tmp/bad.vars"
check "a bad --var-file line is a usage error" 2 "" "$runnerctl" run --var-file "$tmp/bad.vars" x.yml
stderr_is "it names FILE:LINE" "runnerctl: $tmp/bad.vars:2: expected NAME=VALUE, NAME of letters, digits and _, not starting with a digit or GITHUB_"
check "validate without a file is a usage error" 2 "" "$runnerctl" validate
check "validate several files: exit 1 if one is invalid" 1 "$fixtures/valid/cleanup.yml: valid: 3 jobs, 7 steps" \
        "$runnerctl" validate "$fixtures/valid/cleanup.yml" "$fixtures/invalid/needs.yml"
stderr_is "and the errors of the invalid one" "$(sed "s|^|$fixtures/invalid/needs.yml:|" "$fixtures/invalid/needs.expected")"

# The loader quotes the workflow's text in its messages: ESC, BEL, newline and tab come out escaped.
cat >"$tmp/escapes.yml" <<'YML'
name: "title \e]0;pwned\a"
"\e[2J": 1
jobs:
  build:
    name: "clear \e[2J and a\nnewline"
    needs: "\e]0;pwned\a"
    steps:
      - name: "step \e[2J"
        id: "a\tb"
        run: echo
YML
check "validate a workflow with control characters in its text" 1 "" "$runnerctl" validate "$tmp/escapes.yml"
stderr_is "validate prints them escaped" "$tmp/escapes.yml:2:1: unknown key '\x1b[2J' in the workflow (expected one of: name, on, env, defaults, jobs, concurrency)
$tmp/escapes.yml:6:12: job 'build' needs unknown job '\x1b]0;pwned\x07'
$tmp/escapes.yml:9:13: invalid step id 'a\tb': ids start with a letter or '_', contain only letters, digits, '-' and '_', and are shorter than 100 characters"
n=$((n + 1))
if ! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$tmp/stderr"; then
        echo "ok $n - no control character but newline reached stderr"
else
        echo "not ok $n - control characters reached stderr"
        failed=$((failed + 1))
fi

# runnerctl action: names and usage are checked before the agent is asked
check "action add of ../x is a usage error" 2 "" "$runnerctl" action add ../x "$tmp"
stderr_is "the message says the form" "runnerctl: invalid action name '../x': expected owner/repo@ref (a tag, a branch or a commit)
Try 'runnerctl --help' for more information."
check "action add of a/b@ is a usage error" 2 "" "$runnerctl" action add a/b@ "$tmp"
stderr_is "the message says the ref is empty" "runnerctl: invalid action name 'a/b@': the ref after @ is empty
Try 'runnerctl --help' for more information."
check "action add with a path inside the repository is a usage error" 2 "" "$runnerctl" action add a/b/dir@v1 "$tmp"
check "action add of a source that does not exist fails" 1 "" "$runnerctl" action add a/b@v1 "$tmp/none"
check "an unknown action command is a usage error" 2 "" "$runnerctl" action frob
check "action remove without a name is a usage error" 2 "" "$runnerctl" action remove
check "action add --json is a usage error" 2 "" "$runnerctl" action add --json a/b@v1 "$tmp"

echo "1..$n"
exit $((failed > 0))
