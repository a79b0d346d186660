#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Actions against a hostile workflow (README, "Steps are untrusted" and "Actions"), inside the throwaway
# container. A step puts symlinks where the agent copies an action of the store next (the names
# .copy-<job>-<step> beside the job's copies), and leaves a process that puts one there again whenever
# it is removed: nothing may be written through them. Local actions that
# are a symlink to /etc/shadow, to a directory outside the workspace, to /proc, a FIFO, a path with ..:
# each step fails, the agent neither hangs nor quotes a root-only file. A job that loads 1 MiB action.yml
# files over and over: the run stays small enough for a restarted agent to read it back, and the
# restart keeps the run. TAP.
#
#   test-actions-hostile.sh BUILD_DIR
set -uo pipefail

build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_test_container

scratch test-actions-hostile
trap 'rm -rf "$work" "$marks"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

step_json() { # step_json RUN JOB-INDEX NAME: the step of that name in status --json
        runnerctl status --json "$1" | jq -c --arg n "$3" ".jobs[$2].steps[] | select(.name == \$n)"
}

# ---- symlinks where the agent copies an action of the store ----
comp=$work/comp
mkdir -p "$comp"
cat >"$comp/action.yml" <<'YML'
name: comp
description: A composite action of the store.
runs:
  using: composite
  steps:
    - run: echo "comp ran in $GITHUB_ACTION_PATH"
      shell: bash
YML
git -C "$comp" init -q -b main
git -C "$comp" add . && git -C "$comp" -c user.email=t@example.org -c user.name=t commit -qm comp
git -C "$comp" tag v1 && git -C "$comp" tag v2
# another that uses it: its step's action is loaded when that step is reached, after the steps before
wrap=$work/wrap
mkdir -p "$wrap"
cat >"$wrap/action.yml" <<'YML'
name: wrap
description: A composite action of the store using another.
runs:
  using: composite
  steps:
    - uses: someone/comp@v2
YML
git -C "$wrap" init -q -b main
git -C "$wrap" add . && git -C "$wrap" -c user.email=t@example.org -c user.name=t commit -qm wrap
git -C "$wrap" tag v1
runnerctl action add someone/comp@v1 "file://$comp" >/dev/null || not_ok "runnerctl action add someone/comp@v1"
runnerctl action add someone/comp@v2 "file://$comp" >/dev/null || not_ok "runnerctl action add someone/comp@v2"
runnerctl action add someone/wrap@v1 "file://$wrap" >/dev/null || not_ok "runnerctl action add someone/wrap@v1"
# root's, not writable by a job's user: where the symlinks point
target=$work/target
mkdir -m 0755 "$target"
cat >"$work/copy.yml" <<YML
on: push
jobs:
  copy:
    steps:
      - uses: someone/comp@v1
      - name: plant
        run: |
          d=\$(dirname "\$GITHUB_OUTPUT")/actions/someone/comp
          for i in \$(seq 0 20); do ln -s "$target" "\$d/.copy-0-\$i" 2>/dev/null || :; done
          # and again whenever the agent removes it first, until the job's end kills it
          python3 -c 'import os, sys
          open(sys.argv[3], "w").close()
          while True:
              try: os.symlink(sys.argv[1], sys.argv[2])
              except FileExistsError: pass
              except OSError: break' "$target" "\$d/.copy-0-4" "\$RUNNER_TEMP/ready" </dev/null >/dev/null 2>&1 &
          while [ ! -e "\$RUNNER_TEMP/ready" ]; do sleep 0.01; done
          ls -la "\$d" || :
          if [ -w "\$d" ]; then echo "writable=yes"; else echo "writable=no"; fi
      - uses: someone/wrap@v1
YML
id=$(runnerctl run --no-source --wait "$work/copy.yml")
say "$(runnerctl status "$id")"
say "$(ls -laR "$target")"
check "nothing was copied through a symlink the job's user planted beside its copies" \
        test -z "$(ls -A "$target")"
log=$(runnerctl logs "$id" copy "$(step_json "$id" 0 plant | jq -r .number)")
say "$log"
check "the directory of the job's copies of an action is not the job's user's to write" \
        grep -qx "writable=no" <<<"$log"
check "the job using both refs of the action concluded success" \
        bash -c "runnerctl status --json $id | jq -e '.jobs[0].conclusion == \"success\"'"

# ---- a repository with hostile local actions ----
repo=$work/repo
mkdir -p "$repo/.github/workflows" "$repo/.github/actions/ok"
git -C "$repo" init -q -b main
git -C "$repo" config user.email t@example.org
git -C "$repo" config user.name tester
cat >"$repo/.github/actions/ok/action.yml" <<'YML'
name: ok
description: a harmless composite action
runs:
  using: composite
  steps:
    - run: echo ok
      shell: bash
YML
# 1 MiB less a little: quotes, which run-state.json escapes, in a comment; twelve different ones (the
# same action loaded again is kept once)
for i in $(seq 1 12); do
        mkdir -p "$repo/.github/actions/big$i"
        {
                printf 'name: big%s\ndescription: big\nruns:\n  using: composite\n  steps:\n    - run: "true"\n      shell: bash\n# ' "$i"
                head -c 1040000 /dev/zero | tr '\0' '"'
                printf '\n'
        } >"$repo/.github/actions/big$i/action.yml"
done
cat >"$repo/.github/workflows/local.yml" <<YML
on: push
jobs:
  local:
    steps:
      - uses: actions/checkout@v4
      - name: plant
        run: |
          a=.github/actions
          mkdir -p \$a/shadow \$a/fifo
          ln -s /etc/shadow \$a/shadow/action.yml
          mkfifo \$a/fifo/action.yml
          ln -s /etc \$a/etc
          ln -s /proc/self/cwd \$a/proc
          ln -s ../../../../../../../etc \$a/up
          ln -s "$work/rootaction" \$a/outside
      - { id: shadow, continue-on-error: true, uses: ./.github/actions/shadow }
      - { id: fifo, continue-on-error: true, uses: ./.github/actions/fifo }
      - { id: etc, continue-on-error: true, uses: ./.github/actions/etc }
      - { id: proc, continue-on-error: true, uses: ./.github/actions/proc }
      - { id: up, continue-on-error: true, uses: ./.github/actions/up }
      - { id: outside, continue-on-error: true, uses: ./.github/actions/outside }
      - { id: fine, uses: ./.github/actions/ok }
YML
mkdir -p "$work/rootaction"
cp "$repo/.github/actions/ok/action.yml" "$work/rootaction/"
{
        printf 'on: push\njobs:\n  big:\n    steps:\n      - uses: actions/checkout@v4\n'
        for i in $(seq 1 12); do
                printf '      - { continue-on-error: true, uses: ./.github/actions/big%s }\n' "$i"
        done
        printf '      - name: wait\n        if: always()\n        run: |\n'
        printf '          touch %s/big-waiting\n' "$marks"
        printf '          while [ ! -e %s/go ]; do sleep 0.1; done\n' "$marks"
} >"$repo/.github/workflows/big.yml"
git -C "$repo" add . && git -C "$repo" commit -qm hostile

# ---- local actions that are not the job's user's files ----
loaded=$(cd "$repo" && timeout 120 runnerctl run --wait .github/workflows/local.yml)
id=$loaded
say "run $id: $(runnerctl status "$id")"
for s in shadow fifo etc proc up outside; do
        st=$(step_json "$id" 0 "Run ./.github/actions/$s")
        say "$s: $st"
        check "local action '$s': the step failed" jq -e '.outcome == "failure"' <<<"${st:-null}"
done
check "... and a harmless one after them ran" \
        bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[] | select(.name == \"Run ./.github/actions/ok\") | .conclusion == \"success\"'"
root_line=$(head -1 /etc/shadow | cut -d: -f1-2)
check "no message of the run quotes /etc/shadow" \
        bash -c "! runnerctl status --json $id | grep -qF -- '$root_line'"
check "... nor its logs" bash -c "! grep -rqF -- '$root_line' /var/lib/runner-agent/runs/$id/logs"

printf 'on: push\njobs:\n  up:\n    steps:\n      - uses: ./../../etc\n' >"$work/dotdot.yml"
check "a local action with .. in its path is refused when the run is submitted" \
        bash -c "! runnerctl run --no-source '$work/dotdot.yml'"

# ---- twelve 1 MiB action.yml files, and a restart ----
rm -f "$marks"/*
id=$(cd "$repo" && runnerctl run .github/workflows/big.yml)
wait_for 280 test -e "$marks/big-waiting" || not_ok "the step after the big actions started"
size=$(stat -c %s "/var/lib/runner-agent/runs/$id/run-state.json" 2>/dev/null || echo 0)
say "run-state.json: $size bytes"
check "run-state.json is well below the 64 MiB a restarted agent reads" test "$size" -lt $((32 * 1024 * 1024))
systemctl restart runner-agent
touch "$marks/go"
wait_for 120 completed "$id" || { not_ok "the run completed after the restart"; say "$(journalctl -u runner-agent -n 20 -o cat | cut -c1-300)"; }
say "$(runnerctl status "$id" | cut -c1-300 | tail -8)"
check "the restarted agent took the run over: the step waiting across the restart succeeded" \
        jq -e '.conclusion == "success"' <<<"$(step_json "$id" 0 wait)"
check "a step beyond the run's budget of action.yml text failed, saying so" \
        bash -c "runnerctl status --json $id | jq -e '[.jobs[0].steps[] | select(.message // \"\" | contains(\"larger than\"))] | length > 0'"

# ---- a secret a JavaScript action saved in its state, across a restart ----
keep=$work/keep
mkdir -p "$keep"
cat >"$keep/action.yml" <<'YML'
name: keep
description: Saves its token input in its state for its post step.
inputs:
  token:
    description: a token
runs:
  using: node20
  main: main.js
  post: post.js
YML
cat >"$keep/main.js" <<'JS'
require('fs').appendFileSync(process.env.GITHUB_STATE, `token=${process.env.INPUT_TOKEN}\n`);
JS
cat >"$keep/post.js" <<'JS'
console.log(process.env.STATE_token === process.env.INPUT_TOKEN ? 'state intact' : 'state changed');
JS
git -C "$keep" init -q -b main
git -C "$keep" add . && git -C "$keep" -c user.email=t@example.org -c user.name=t commit -qm keep
git -C "$keep" tag v1
runnerctl action add someone/keep@v1 "file://$keep" >/dev/null || not_ok "runnerctl action add someone/keep@v1"
cat >"$work/keep.yml" <<YML
on: push
jobs:
  keep:
    steps:
      - uses: someone/keep@v1
        with:
          token: \${{ secrets.TOK }}
      - name: wait
        run: |
          touch $marks/keep-waiting
          while [ ! -e $marks/keep-go ]; do sleep 0.1; done
YML
rm -f "$marks"/*
id=$(TOK=tok-Vb8qLm3x runnerctl run -s TOK --no-source "$work/keep.yml")
wait_for 120 test -e "$marks/keep-waiting" || not_ok "the step after the JavaScript action started"
check "the state on disk does not hold the secret" \
        bash -c "! grep -qF tok-Vb8qLm3x /var/lib/runner-agent/runs/$id/run-state.json"
systemctl restart runner-agent
touch "$marks/keep-go"
wait_for 120 completed "$id" || not_ok "the run completed after the restart"
log=$(runnerctl logs "$id" keep "$(step_json "$id" 0 "Post Run someone/keep@v1" | jq -r .number)")
say "$log"
check "the post step got the state its main saved, with the secret in it, after a restart" \
        grep -qx "state intact" <<<"$log"

# ---- a composite action that uses itself: bounded, the agent stays responsive ----
rec=$work/rec
mkdir -p "$rec/.github/workflows" "$rec/.github/actions/rec"
cat >"$rec/.github/actions/rec/action.yml" <<'YML'
name: rec
description: Uses itself four times a level.
runs:
  using: composite
  steps:
    - { uses: ./.github/actions/rec, continue-on-error: true }
    - { uses: ./.github/actions/rec, continue-on-error: true }
    - { uses: ./.github/actions/rec, continue-on-error: true }
    - { uses: ./.github/actions/rec, continue-on-error: true }
YML
printf 'on: push\njobs:\n  r:\n    steps:\n      - uses: actions/checkout@v4\n      - uses: ./.github/actions/rec\n' \
        >"$rec/.github/workflows/rec.yml"
git -C "$rec" init -q -b main
git -C "$rec" add . && git -C "$rec" -c user.email=t@example.org -c user.name=t commit -qm rec
id=$(cd "$rec" && runnerctl run .github/workflows/rec.yml)
slowest=0 unanswered=0
until completed "$id" >/dev/null 2>&1; do
        t0=$(date +%s%N)
        runnerctl list >/dev/null || unanswered=$((unanswered + 1))
        t=$((($(date +%s%N) - t0) / 1000000))
        ((t > slowest)) && slowest=$t
        ((SECONDS < 600)) || break
        sleep 0.2
done
st=$(runnerctl status --json "$id")
say "self-using composite action: $(jq '.jobs[0].steps | length' <<<"$st") steps, runnerctl list answered within $slowest ms at worst"
check "a composite action using itself ends: the nesting is refused at its limit" \
        jq -e '.status == "completed" and ([.jobs[0].steps[] | select(.message != null and (.message | test("nested more than|more than [0-9]+ steps")))] | length > 0)' <<<"$st"
check "the job stays under its step limit" jq -e '(.jobs[0].steps | length) <= 10000' <<<"$st"
# Broken, not slow: how long an answer takes on a busy shared machine is printed, not judged.
check "the agent answered every runnerctl list meanwhile (slowest $slowest ms)" test "$unanswered" -eq 0

echo "1..$n"
((failed == 0))
