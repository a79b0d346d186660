#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Actions (README, "Actions"), inside the throwaway container: a workflow checks out its repository and
# uses a local JavaScript action written with @actions/core (vendored as npm installs it: inputs,
# outputs, core.setSecret, saveState/getState, a post step) and a local composite action that nests
# another; the outputs come out, the secret is masked, the post step runs at the job's end, also after
# a cancel. Cancelling a JavaScript action that ignores SIGINT: SIGINT reaches node, SIGTERM 7500 ms
# later, the kill 2500 ms after, nothing left (its child neither). Cancelling while a composite
# action's step runs: that step gets the sequence, the action's if: always() step runs, its
# success() step does not. TAP.
#
#   test-actions.sh BUILD_DIR
set -uo pipefail

build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_test_container

scratch test-actions
trap 'rm -rf "$work" "$marks"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

expect() { # expect DESCRIPTION LOG LINE
        if grep -qxF -- "$3" <<<"$2"; then ok "$1"; else not_ok "$1 (want '$3')"; say "$2"; fi
}
step_json() { # step_json RUN JOB-INDEX NAME: the step of that name in status --json
        runnerctl status --json "$1" | jq -c --arg n "$3" ".jobs[$2].steps[] | select(.name == \$n)"
}

# ---- a repository with the actions and the workflows ----
repo=$work/repo
mkdir -p "$repo/.github/workflows" "$repo/.github/actions"
cp -r "$here/actions/js-core" "$here/actions/composite" "$here/actions/nested" "$repo/.github/actions/"
git -C "$repo" init -q -b main
git -C "$repo" config user.email t@example.org
git -C "$repo" config user.name tester
cat >"$repo/.github/workflows/use.yml" <<'YML'
on: push
jobs:
  use:
    steps:
      - uses: actions/checkout@v4
      - id: js
        uses: ./.github/actions/js-core
        with:
          who: world
          secret-value: hunter2-sekrit
      - id: comp
        uses: ./.github/actions/composite
        with:
          word: hello
      - run: |
          echo "js=${{ steps.js.outputs.sentence }}"
          echo "comp=${{ steps.comp.outputs.upper }} nested=${{ steps.comp.outputs.nested }}"
          echo "outcome=${{ steps.js.outcome }}/${{ steps.comp.conclusion }}"
YML
cat >"$repo/.github/workflows/cancel-js.yml" <<YML
on: push
jobs:
  hang:
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/js-core
        with:
          who: cancel
          marks: $marks
          hang: 'true'
      - name: after
        run: echo after
YML
cat >"$repo/.github/workflows/cancel-composite.yml" <<YML
on: push
jobs:
  hang:
    steps:
      - uses: actions/checkout@v4
      - id: comp
        uses: ./.github/actions/composite
        with:
          marks: $marks
          hang: 'true'
YML
cat >"$repo/.github/workflows/restart.yml" <<YML
on: push
jobs:
  r:
    steps:
      - uses: actions/checkout@v4
      - id: js
        uses: ./.github/actions/js-core
        with:
          who: restart
      - id: comp
        uses: ./.github/actions/composite
        with:
          word: again
          marks: $marks
          hang: 'true'
      - run: echo "after=\${{ steps.comp.outputs.upper }}/\${{ steps.comp.outputs.nested }}/\${{ steps.js.outputs.sentence }}"
YML
git -C "$repo" add . && git -C "$repo" commit -qm actions

# ---- the happy path ----
id=$(cd "$repo" && runnerctl run --wait .github/workflows/use.yml)
say "run $id: $(runnerctl status "$id")"
check "the run with a JavaScript and a composite action concluded success" \
        bash -c "runnerctl status --json $id | jq -e '.conclusion == \"success\"'"
names=$(runnerctl status --json "$id" | jq -r '.jobs[0].steps[].name')
say "$names"
check "steps are named as GitHub names them: a composite action's steps after it, the post step last" \
        test "$names" = "Run actions/checkout@v4
Run ./.github/actions/js-core
Run ./.github/actions/composite
Run echo \"upper=\$(echo 'hello' | tr a-z A-Z)\" >> \"\$GITHUB_OUTPUT\"
Run ./.github/actions/nested
Run echo \"said=inner hello\" >> \"\$GITHUB_OUTPUT\"
wait for the cancel
skipped after a cancel
always
Run echo \"js=Hello, world!\"
Post Run ./.github/actions/js-core"
n_js=$(step_json "$id" 0 "Run ./.github/actions/js-core" | jq -r .number)
n_post=$(step_json "$id" 0 "Post Run ./.github/actions/js-core" | jq -r .number)
log=$(runnerctl logs "$id" use "$n_js")
expect "main ran, with GITHUB_ACTION_PATH the action's directory in the workspace" "$log" \
        "main ran in /var/lib/runner-agent/work/r$id/use/.github/actions/js-core"
expect "core.setSecret(): the value is masked in the log" "$log" "secret is ***"
log=$(runnerctl logs "$id" use "$n_post")
check "the post step ran with the state main saved (getState) and the step's inputs" \
        grep -qE '^post ran, state pid-[0-9]+, input world$' <<<"$log"
n_last=$(step_json "$id" 0 'Run echo "js=Hello, world!"' | jq -r .number)
log=$(runnerctl logs "$id" use "$n_last")
expect "the JavaScript action's output (core.setOutput) in steps.js.outputs" "$log" "js=Hello, world!"
expect "the composite action's outputs, from its steps and a nested composite action" "$log" \
        "comp=HELLO nested=inner hello"
expect "steps.<id>.outcome and conclusion of action steps" "$log" "outcome=success/success"
check "the masked value is in none of the run's logs" \
        bash -c "! grep -rq hunter2-sekrit /var/lib/runner-agent/runs/$id/logs"
check "... nor in the journal" bash -c "! journalctl -q -o cat RUNNER_RUN_ID=$id | grep -q hunter2-sekrit"

# ---- cancelling a JavaScript action that ignores SIGINT ----
rm -f "$marks"/*
id=$(cd "$repo" && runnerctl run .github/workflows/cancel-js.yml)
wait_for 120 test -s "$marks/node-pid" || not_ok "the JavaScript action started"
read -r node_pid child_pid <"$marks/node-pid"
check "the step's entry process is node" bash -c "[[ \$(cat /proc/$node_pid/comm) == node* ]]"
runnerctl cancel "$id" >/dev/null
wait_for 60 completed "$id" || not_ok "the cancelled run completed"
say "$(cat "$marks/signals" 2>/dev/null)"
int=$(awk '$1 == "SIGINT" { print $2; exit }' "$marks/signals")
term=$(awk '$1 == "SIGTERM" { print $2; exit }' "$marks/signals")
check "SIGINT reached node" test -n "$int"
check "SIGTERM reached node 7500 ms after SIGINT (±400 ms, as node saw them)" within "$((term - int))" 7100 7900
journalctl --sync; ev=$(runnerctl events --json "$id")
stage() { jq -r --arg e "$1" '[.[] | select(.RUNNER_EVENT == $e) | .RUNNER_ELAPSED_USEC | tonumber] | first // empty' <<<"$ev"; }
a_int=$(stage interrupt) a_term=$(stage terminate) a_kill=$(stage kill)
say "agent: SIGINT at ${a_int:-?} us, SIGTERM at ${a_term:-?} us, the kill at ${a_kill:-?} us into the cancel"
check "the agent sent SIGINT at once, SIGTERM 7500 ms and the kill 10000 ms into the cancel (±50 ms)" \
        bash -c "[[ -n '$a_int' && -n '$a_term' && -n '$a_kill' ]] && (( $a_int <= 50000 && $a_term >= 7450000 && $a_term <= 7550000 && $a_kill >= 9950000 && $a_kill <= 10050000 ))"
check "node is gone" bash -c "! kill -0 $node_pid 2>/dev/null"
check "the child the action spawned is gone" bash -c "! kill -0 $child_pid 2>/dev/null"
check "no process of a step's user is left" test -z "$(live_runner_processes)"
post=$(step_json "$id" 0 "Post Run ./.github/actions/js-core")
say "$post"
check "the post step ran after the cancel" jq -e '.conclusion == "success"' <<<"$post"
check "the step after it was skipped" bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[] | select(.name == \"after\") | .conclusion == \"skipped\"'"
log=$(runnerctl logs "$id" hang "$(jq -r .number <<<"$post")")
check "... with the state its main saved" grep -qE '^post ran, state pid-[0-9]+, input cancel$' <<<"$log"

# ---- cancelling a composite action's step ----
rm -f "$marks"/*
id=$(cd "$repo" && runnerctl run .github/workflows/cancel-composite.yml)
wait_for 120 test -e "$marks/composite-waiting" || not_ok "the composite action's step started"
runnerctl cancel "$id" >/dev/null
wait_for 60 completed "$id" || not_ok "the cancelled run completed"
say "$(runnerctl status "$id")"
say "$(cat "$marks/composite-signals" 2>/dev/null)"
check "the composite action's running step got SIGINT and then SIGTERM" \
        bash -c "grep -q '^SIGINT' '$marks/composite-signals' && grep -q '^SIGTERM' '$marks/composite-signals'"
check "... and concluded cancelled" bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[] | select(.name == \"wait for the cancel\") | .conclusion == \"cancelled\"'"
check "the composite action's success() step was skipped" \
        bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[] | select(.name == \"skipped after a cancel\") | .conclusion == \"skipped\"'"
always=$(step_json "$id" 0 "always")
check "the composite action's if: always() step ran" jq -e '.conclusion == "success"' <<<"$always"
log=$(runnerctl logs "$id" hang "$(jq -r .number <<<"$always")")
expect "... in the action's directory (GITHUB_ACTION_PATH)" "$log" \
        "inner always step ran in /var/lib/runner-agent/work/r$id/hang/.github/actions/composite"
check "the composite action's step concluded cancelled" \
        bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[1].conclusion == \"cancelled\"'"
check "no process of a step's user is left" test -z "$(live_runner_processes)"

# ---- actions from the action store, by tag and by commit: pre, main and post ----
hello=$work/hello
mkdir -p "$hello"
cat >"$hello/action.yml" <<'YML'
name: hello
description: A JavaScript action without dependencies, with pre and post.
inputs:
  who:
    description: whom to greet
    required: true
outputs:
  said:
    description: what main said
runs:
  using: node20
  pre: pre.js
  main: main.js
  post: post.js
YML
cat >"$hello/pre.js" <<'JS'
const fs = require('fs');
console.log(`pre ran for ${process.env.INPUT_WHO}`);
fs.appendFileSync(process.env.GITHUB_STATE, `from-pre=pre-${process.env.INPUT_WHO}\n`);
JS
cat >"$hello/main.js" <<'JS'
const fs = require('fs');
console.log(`main ran for ${process.env.INPUT_WHO}, state ${process.env['STATE_from-pre']}, in ${process.env.GITHUB_ACTION_PATH}`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `said=hello ${process.env.INPUT_WHO}\n`);
JS
cat >"$hello/post.js" <<'JS'
console.log(`post ran for ${process.env.INPUT_WHO}, state ${process.env['STATE_from-pre']}`);
JS
git -C "$hello" init -q -b main
git -C "$hello" add . && git -C "$hello" -c user.email=t@example.org -c user.name=t commit -qm hello
git -C "$hello" tag v1
hello_sha=$(git -C "$hello" rev-parse HEAD)
runnerctl action add someone/hello@v1 "file://$hello" >/dev/null || not_ok "runnerctl action add from a file:// URL"
cat >"$work/store.yml" <<YML
on: push
jobs:
  store:
    steps:
      - id: tag
        uses: someone/hello@v1
        with:
          who: tag
      - id: commit
        uses: Someone/Hello@$hello_sha
        with:
          who: commit
      - name: outputs
        run: echo "tag=\${{ steps.tag.outputs.said }} commit=\${{ steps.commit.outputs.said }}"
  missing:
    steps:
      - run: echo "must not run"
      - uses: someone/missing@v1
YML
id=$(runnerctl run --no-source --wait "$work/store.yml")
say "$(runnerctl status "$id")"
names=$(runnerctl status --json "$id" | jq -r '.jobs[0].steps[].name')
check "pre steps first, in the order of their steps; post steps last, in reverse" test "$names" = "Pre Run someone/hello@v1
Pre Run Someone/Hello@$hello_sha
Run someone/hello@v1
Run Someone/Hello@$hello_sha
outputs
Post Run Someone/Hello@$hello_sha
Post Run someone/hello@v1"
check "the job using actions of the store concluded success" \
        bash -c "runnerctl status --json $id | jq -e '.jobs[0].conclusion == \"success\"'"
logs_of() { # logs_of RUN JOB-INDEX JOB NAME
        runnerctl logs "$1" "$3" "$(step_json "$1" "$2" "$4" | jq -r .number)"
}
log=$(logs_of "$id" 0 store "Pre Run someone/hello@v1")
expect "the pre step ran with the step's inputs" "$log" "pre ran for tag"
log=$(logs_of "$id" 0 store "Run someone/hello@v1")
check "main ran with the state pre saved, in the job's copy of the action" \
        grep -qE "^main ran for tag, state pre-tag, in /run/runner-agent/r$id/j1/actions/someone/hello/v1\$" <<<"$log"
log=$(logs_of "$id" 0 store "Post Run Someone/Hello@$hello_sha")
expect "the post step of the action resolved by commit ran with its state" "$log" "post ran for commit, state pre-commit"
log=$(logs_of "$id" 0 store outputs)
expect "the outputs of the actions resolved by tag and by commit" "$log" "tag=hello tag commit=hello commit"
missing=$(runnerctl status --json "$id" | jq -c '.jobs[1]')
say "$missing"
check "a job using an action missing from the store fails when it starts" \
        jq -e '.conclusion == "failure" and all(.steps[]; .conclusion == "skipped")' <<<"$missing"
check "... saying how to add it" \
        jq -e '.message | contains("runnerctl action add someone/missing@v1")' <<<"$missing"

# ---- the agent restarts while a composite action's step runs ----
rm -f "$marks"/*
id=$(cd "$repo" && runnerctl run .github/workflows/restart.yml)
wait_for 120 test -e "$marks/composite-waiting" || not_ok "the composite action's step started"
systemctl restart runner-agent
touch "$marks/go"
wait_for 120 completed "$id" || { not_ok "the run completed after the restart"; say "$(journalctl -u runner-agent -n 30 -o cat)"; }
say "$(runnerctl status "$id")"
check "the run with actions concluded success across a restart of the agent" \
        bash -c "runnerctl status --json $id | jq -e '.conclusion == \"success\"'"
n_last=$(runnerctl status --json "$id" | jq -r '.jobs[0].steps[] | select(.name | startswith("Run echo \"after=")) | .number')
log=$(runnerctl logs "$id" r "$n_last")
expect "the composite action's outputs and the JavaScript action's, after the restart" "$log" \
        "after=AGAIN/inner again/Hello, restart!"
post=$(step_json "$id" 0 "Post Run ./.github/actions/js-core")
log=$(runnerctl logs "$id" r "$(jq -r .number <<<"$post")")
check "the post step ran after the restart, with the state main saved before it" \
        grep -qE '^post ran, state pid-[0-9]+, input restart$' <<<"$log"

echo "1..$n"
((failed == 0))
