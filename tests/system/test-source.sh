#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The run's source and its contexts (README, "The run's source", "Contexts of a run"), inside the
# throwaway container: runnerctl run of a workflow file in a git work tree makes HEAD the run's source; actions/checkout
# puts a repository with that commit checked out in the workspace (git log, git describe --tags, the
# branch, fetch-depth, path:); github.*, GITHUB_*, inputs, vars and github.event come from
# --event, --event-file, --input, --var and --var-file, also after the agent restarted mid-run;
# --source DIR copies a directory as the caller; --no-source with actions/checkout is refused at its
# line. The confused deputy: a member of runner-admin cannot make the root agent read what they cannot
# (--source /root; a directory they cannot read inside their tree; a symlink to /etc/shadow), and
# the D-Bus API takes no path. TAP.
#
#   test-source.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-source
trap 'rm -rf "$work" "$marks"' EXIT

install_agent "$build"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }
useradd --system --no-create-home -G runner-admin src-tester 2>/dev/null || true

# ---- a repository: two commits, a tag on the first, a remote ----
repo=$work/repo
mkdir -p "$repo/.github/workflows"
git -C "$repo" init -q -b main
git -C "$repo" config user.email t@example.org
git -C "$repo" config user.name tester
git -C "$repo" remote add origin https://git.example.org/octo-org/hello-world.git
echo one >"$repo/file.txt"
git -C "$repo" add file.txt && git -C "$repo" commit -qm one
git -C "$repo" tag v1.0
echo two >"$repo/file.txt"
echo "uncommitted" >"$repo/dirty.txt"
cat >"$repo/.github/workflows/ci.yml" <<'YML'
name: ci
on: [push, workflow_dispatch]
jobs:
  full:
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - id: wait
        run: |
          touch @MARKS@/waiting
          while [ ! -e @MARKS@/go ]; do sleep 0.05; done
      - run: |
          echo "describe=$(git describe --tags)"
          echo "head=$(git log -1 --format=%H)"
          echo "branch=$(git rev-parse --abbrev-ref HEAD)"
          echo "count=$(git rev-list --count HEAD)"
          echo "origin=$(git remote get-url origin)"
          echo "file=$(cat file.txt)"
          test -e dirty.txt && echo "dirty=yes" || echo "dirty=no"
          echo "sha=${{ github.sha }} env=$GITHUB_SHA"
          echo "ref=$GITHUB_REF ref_name=${{ github.ref_name }} type=$GITHUB_REF_TYPE"
          echo "repo=$GITHUB_REPOSITORY owner=${{ github.repository_owner }}"
          echo "event=${{ github.event_name }} foo=${{ github.event.foo }}"
          echo "event_path=$(grep -o bar-from-event "$GITHUB_EVENT_PATH") $(stat -c %U "$GITHUB_EVENT_PATH" | grep -c '^runner-')"
          echo "x=${{ inputs.x }} y=${{ vars.y }} z=${{ vars.Z_FROM_FILE }}"
          echo "server=$GITHUB_SERVER_URL attempt=$GITHUB_RUN_ATTEMPT action=$GITHUB_ACTION"
  shallow:
    needs: full
    steps:
      - uses: Actions/Checkout@v3
        with:
          path: sub/dir
      - run: |
          cd sub/dir
          echo "count=$(git rev-list --count HEAD) head=$(git log -1 --format=%H)"
YML
sed -i "s|@MARKS@|$marks|g" "$repo/.github/workflows/ci.yml"
git -C "$repo" add file.txt .github && git -C "$repo" commit -qm two
sha=$(git -C "$repo" rev-parse HEAD)
echo '{"foo": "bar-from-event", "n": 1}' >"$work/event.json"
printf '# vars\nZ_FROM_FILE=zed\n' >"$work/vars.env"

# From outside the work tree: the workflow file's repository is the source.
id=$(cd / && runnerctl run --event push --event-file "$work/event.json" --input x=hello \
        --var y=world --var-file "$work/vars.env" "$repo/.github/workflows/ci.yml")
say "run $id"
check "runnerctl run of a workflow in a git work tree creates the run" test -n "$id"
stored=/var/lib/runner-agent/runs/$id/source
check "the agent keeps the snapshot in the run's directory, root's, mode 0600" \
        test "$(stat -c '%U %a' "$stored" 2>&1)" = "root 600"
check "the snapshot is a git bundle of HEAD, not the live tree" \
        bash -c "head -c 20 '$stored' | grep -q '^# v[23] git bundle'"

# The agent restarts while the run waits: what the later step reads must come back from run-state.
wait_for 60 test -e "$marks/waiting" || not_ok "the run's second step started"
systemctl restart runner-agent
touch "$marks/go"
wait_for 120 completed "$id" || not_ok "the run completed"
log=$(runnerctl logs "$id" full 3)
say "$log"
expect() { # expect DESCRIPTION LINE
        if grep -qxF -- "$2" <<<"$log"; then ok "$1"; else not_ok "$1 (want '$2')"; fi
}
check "the run concluded success" bash -c "runnerctl status --json $id | jq -e '.conclusion == \"success\"'"
expect "git describe --tags works in the checkout" "describe=v1.0-1-g${sha:0:7}"
expect "git log -1 is the HEAD commit runnerctl run was given" "head=$sha"
expect "the branch is checked out, as GitHub does for a branch" "branch=main"
expect "fetch-depth: 0 fetches the whole history" "count=2"
expect "origin is the repository on the server" "origin=https://github.com/octo-org/hello-world"
expect "the committed file, not the live tree's" "file=two"
expect "an uncommitted file is not in the snapshot" "dirty=no"
expect "github.sha and GITHUB_SHA" "sha=$sha env=$sha"
expect "GITHUB_REF, github.ref_name, GITHUB_REF_TYPE" "ref=refs/heads/main ref_name=main type=branch"
expect "GITHUB_REPOSITORY and github.repository_owner from remote.origin.url" \
        "repo=octo-org/hello-world owner=octo-org"
expect "--event and --event-file: github.event_name, github.event.foo" "event=push foo=bar-from-event"
expect "--input, --var, --var-file, after a restart of the agent" "x=hello y=world z=zed"
expect "GITHUB_EVENT_PATH: the payload, in a file of the job's user" "event_path=bar-from-event 1"
expect "GITHUB_SERVER_URL, GITHUB_RUN_ATTEMPT, GITHUB_ACTION" "server=https://github.com attempt=1 action=__run"
check "the checkout step is shown as GitHub shows it" \
        bash -c "runnerctl status --json $id | jq -e '.jobs[0].steps[0].name == \"Run actions/checkout@v4\"'"
log=$(runnerctl logs "$id" shallow 2)
say "$log"
grep -q '^count=1' <<<"$log" || { say "$(runnerctl logs "$id" shallow 1)"; say "$(runnerctl status "$id")"; }
expect "fetch-depth defaults to 1, path: puts it under the workspace" "count=1 head=$sha"

# ---- the default event: the first of on: ----
printf 'on: [pull_request, push]\njobs:\n  a:\n    steps:\n      - run: echo "event=${{ github.event_name }}/$GITHUB_EVENT_NAME"\n' >"$work/ev.yml"
id=$(cd "$work" && runnerctl run --wait "$work/ev.yml")
log=$(runnerctl logs "$id" a 1)
expect "without --event, github.event_name is the first event of on:" "event=pull_request/pull_request"

# ---- bad options: clear errors, no run ----
before=$(runnerctl list --json | jq length)
err=$(cd "$repo" && runnerctl run --var 1bad=x .github/workflows/ci.yml 2>&1); rc=$?
check "a bad --var name is a usage error (exit $rc)" bash -c "[[ $rc == 2 && \$1 == *'--var 1bad=x: expected NAME=VALUE'* ]]" _ "$err"
err=$(cd "$repo" && runnerctl run --input 'a b=x' .github/workflows/ci.yml 2>&1); rc=$?
check "a bad --input name is a usage error (exit $rc)" test "$rc" = 2
printf 'A=1\nnot a line\n' >"$work/bad.env"
err=$(cd "$repo" && runnerctl run --var-file "$work/bad.env" .github/workflows/ci.yml 2>&1); rc=$?
check "a bad --var-file line is named FILE:LINE" bash -c "[[ $rc != 0 && \$1 == *'bad.env:2: expected NAME=VALUE'* ]]" _ "$err"
echo '[1, 2]' >"$work/bad.json"
err=$(cd "$repo" && runnerctl run --event-file "$work/bad.json" .github/workflows/ci.yml 2>&1); rc=$?
check "an --event-file that is not a JSON object is refused" bash -c "[[ $rc != 0 && \$1 == *'not a JSON object'* ]]" _ "$err"
{ printf '{"a":%.0s' {1..40}; printf 1; printf '}%.0s' {1..40}; } >"$work/deep.json"
err=$(cd "$repo" && runnerctl run --event-file "$work/deep.json" .github/workflows/ci.yml 2>&1); rc=$?
say "$err"
check "the agent refuses an event nested deeper than it can keep over a restart" \
        bash -c "[[ $rc == 1 && \$1 == *'32 levels'* ]]" _ "$err"
err=$(cd "$repo" && runnerctl run --no-source .github/workflows/ci.yml 2>&1); rc=$?
say "$err"
check "--no-source with actions/checkout is refused at the step's line (exit $rc)" \
        bash -c "[[ $rc == 1 && \$1 == *'ci.yml:6:9: actions/checkout@v4 needs the run'\''s source'* ]]" _ "$err"
printf 'on: push\njobs:\n  a:\n    steps:\n      - uses: docker://alpine:3\n' >"$work/docker.yml"
err=$(runnerctl run --no-source "$work/docker.yml" 2>&1); rc=$?
check "a container action is a clear 'not supported yet' at its line" \
        bash -c "[[ $rc == 1 && \$1 == *'docker.yml:5:15: uses: docker://alpine:3: container actions are not supported yet'* ]]" _ "$err"
check "none of these created a run" test "$(runnerctl list --json | jq length)" = "$before"

# ---- --source DIR, as a member of runner-admin: a copy made as them ----
tree=$work/tree
mkdir -p "$tree/d"
echo "data-Qm7x" >"$tree/d/data.txt"
ln -s /etc/shadow "$tree/shadow-link"
chown -R src-tester "$tree"
shadow_root=$(grep '^root:' /etc/shadow)
cat >"$work/src.yml" <<'YML'
on: push
jobs:
  a:
    steps:
      - uses: actions/checkout@v4
      - run: |
          echo "data=$(cat d/data.txt)"
          echo "link=$(readlink shadow-link)"
          cat shadow-link 2>/dev/null && echo "shadow READ" || echo "shadow unreadable"
          echo "ref=${GITHUB_REF:-none} sha=${GITHUB_SHA:-none}"
YML
id=$(cd / && runuser -u src-tester -- runnerctl run --wait --source "$tree" "$work/src.yml"); rc=$?
check "a member of runner-admin runs with --source DIR (exit $rc)" test "$rc" = 0
log=$(runnerctl logs "$id" a 2)
say "$log"
expect "the directory's files are in the workspace" "data=data-Qm7x"
expect "a symlink stays a symlink: the agent followed nothing" "link=/etc/shadow"
expect "the job cannot read root's file through it" "shadow unreadable"
expect "no git coordinates for a directory" "ref=none sha=none"
check "root's shadow is nowhere in the snapshot" bash -c "! grep -qaF -- '$shadow_root' /var/lib/runner-agent/runs/$id/source"
check "nor in the step's log" bash -c "! runnerctl logs $id | grep -qF -- '${shadow_root:0:20}'"

# The confused deputy: what the caller cannot read, the agent never reads for them.
before=$(runnerctl list --json | jq length)
err=$(cd / && runuser -u src-tester -- runnerctl run --source /root "$work/src.yml" 2>&1); rc=$?
say "$err"
check "--source /root as a member of runner-admin fails as that user (exit $rc)" \
        bash -c "[[ $rc == 1 && \$1 == *'--source /root: Permission denied'* ]]" _ "$err"
mkdir -m 0700 "$tree/secret" && echo "root-only-Zx8" >"$tree/secret/key" && chown root:root "$tree/secret"
err=$(cd / && runuser -u src-tester -- runnerctl run --source "$tree" "$work/src.yml" 2>&1); rc=$?
say "$err"
check "a directory inside the tree the caller cannot read: refused, nothing copied (exit $rc)" \
        bash -c "[[ $rc == 1 && \$1 == *'tar could not read it all'* ]]" _ "$err"
check "no run was created for either" test "$(runnerctl list --json | jq length)" = "$before"
check "root's file is in no run's snapshot" bash -c "! grep -rqaF root-only-Zx8 /var/lib/runner-agent/runs/"
# A client other than runnerctl: descriptors the agent must not read from.
install -o src-tester -m 0644 "$work/src.yml" "$work/mine.yml"
for kind in pipe opath wronly file unsealed; do
        start=$SECONDS
        err=$(runuser -u src-tester -- "$build/tests/submit-fd" "$kind" "$work/mine.yml" 2>&1); rc=$?
        say "$kind: $err"
        check "a source descriptor that is $kind is refused at once (exit $rc, $((SECONDS - start)) s), no run" \
                bash -c "[[ $rc == 1 && \$1 == *'read the source'* ]] && (( $((SECONDS - start)) < 10 ))" _ "$err"
done
check "the agent still answers" runnerctl list
check "none of them created a run" test "$(runnerctl list --json | jq length)" = "$before"
yaml=$(cat "$work/src.yml")
err=$(runuser -u src-tester -- busctl call io.runneragent.Agent1 /io/runneragent/Agent1 io.runneragent.Agent1 \
        SubmitWithOptions 'ssa{ss}a{sv}' bad "$yaml" 0 3 ref s main sha s 123 vars a{ss} 1 GITHUB_X 1 2>&1); rc=$?
check "the agent checks the options itself: a ref that is not refs/… is InvalidArgs" \
        bash -c "[[ $rc != 0 && \$1 == *\"Invalid option 'ref'\"* ]]" _ "$err"
err=$(runuser -u src-tester -- busctl call io.runneragent.Agent1 /io/runneragent/Agent1 io.runneragent.Agent1 \
        SubmitWithOptions 'ssa{ss}a{sv}' bad "$yaml" 0 1 vars a{ss} 1 GITHUB_X 1 2>&1); rc=$?
check "… and a variable named GITHUB_*" bash -c "[[ $rc != 0 && \$1 == *'Invalid variable name'* ]]" _ "$err"
err=$(runuser -u src-tester -- busctl call io.runneragent.Agent1 /io/runneragent/Agent1 io.runneragent.Agent1 \
        SubmitWithOptions 'ssa{ss}a{sv}' path "$yaml" 0 1 source_path s /etc 2>&1); rc=$?
check "the API takes no path: an unknown option is an error" bash -c "[[ $rc != 0 && \$1 == *'Unknown option'* ]]" _ "$err"

echo "1..$n"
exit $((failed > 0))
