#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The action store (README, "Actions"), inside the throwaway container: runnerctl action add from a git
# repository served by `git daemon` on the loopback and by a file:// URL (by tag, by branch, by commit;
# a tag or branch stored under its commit too), from a directory (without .git) and from a tarball;
# the trees root's and not writable by others; what another client sends (absolute or .. members, a
# FIFO, a symlink to climb out through, an unsealed memfd) refused; runnerctl action list, resolve and remove; only root
# may add or remove (a member of runner-admin and another user are refused); bad names refused with
# the reason; a missing action named with how to add it; [Actions] Mirror= fetching owner/repo and
# owner/repo.git at a tag and at a commit, and saying when the mirror does not have it; a restart
# not held up by a fetch from a mirror that never answers, the caller told the agent is stopping. TAP.
#
#   test-action-store.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

store=/var/lib/runner-agent/actions
conf=/etc/runner-agent/agent.conf.d/50-action-mirror.conf
scratch test-action-store
daemon_pid=
cleanup() {
        [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        rm -rf "$work" "$marks" "$conf"
}
trap cleanup EXIT

install_agent "$build"
rm -rf "$store" "$conf"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }
useradd --system --no-create-home -G runner-admin act-admin 2>/dev/null || true
useradd --system --no-create-home act-other 2>/dev/null || true

# ---- repositories: someone/hello (v1 on the first commit, releases/v1 on the second), other/world.git ----
serve=$work/git
repo=$serve/someone/hello
mkdir -p "$repo/dist"
git -C "$repo" init -q -b main
git -C "$repo" config user.email t@example.org
git -C "$repo" config user.name tester
cat >"$repo/action.yml" <<'YML'
name: hello
runs:
  using: node20
  main: dist/index.js
YML
echo 'console.log("hello v1")' >"$repo/dist/index.js"
printf '#!/bin/sh\necho run\n' >"$repo/dist/run.sh" && chmod 0777 "$repo/dist/run.sh"
git -C "$repo" add . && git -C "$repo" commit -qm one
git -C "$repo" tag -a -m v1 v1
sha1=$(git -C "$repo" rev-parse 'v1^{commit}')
echo 'console.log("hello v2")' >"$repo/dist/index.js"
git -C "$repo" commit -qam two
git -C "$repo" branch releases/v1
sha2=$(git -C "$repo" rev-parse HEAD)
mkdir -p "$serve/other"
git clone -q --bare "$repo" "$serve/other/world.git"

port=$((20000 + RANDOM % 20000))
git daemon --reuseaddr --export-all --base-path="$serve" --listen=127.0.0.1 --port="$port" "$serve" \
        >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_for 10 git ls-remote "git://127.0.0.1:$port/someone/hello" || { echo "Bail out! git daemon did not start"; exit 1; }

# rc_out STATUS PATTERN...: the last command's $rc is STATUS and its $out matches every PATTERN.
rc_out() {
        local want=$1 p
        shift
        [[ $rc -eq $want ]] || return 1
        for p; do grep -q -- "$p" <<<"$out" || return 1; done
}
entry() { runnerctl action list --json | jq -e --arg n "$1" '.[] | select(.name == $n)'; }
field() { entry "$1" | jq -r ".$2"; }
tree() { echo "$store/$1/tree"; }

# ---- 1. from git daemon, by tag: stored under the tag and the commit ----
out=$(runnerctl action add someone/hello@v1 "git://127.0.0.1:$port/someone/hello" 2>&1); rc=$?
say "$out"
check "action add from git daemon by tag succeeds" test "$rc" -eq 0
check "... and says it added @v1 and @<commit>" rc_out 0 "Added someone/hello@v1 at commit $sha1" "Added someone/hello@$sha1 "
check "list shows someone/hello@v1 at the tag's commit" test "$(field someone/hello@v1 commit)" = "$sha1"
check "list shows someone/hello@<commit> too" test "$(field "someone/hello@$sha1" commit)" = "$sha1"
check "list shows the source and when it was added" bash -c "[[ \$(runnerctl action list --json | jq -r '.[] | select(.name == \"someone/hello@v1\") | .source') == git://127.0.0.1:$port/someone/hello ]] && runnerctl action list | grep -q '^someone/hello@v1 .*$sha1 .*20..-..-..T'"
check "the tree has the tag's files" grep -q 'hello v1' "$(tree someone/hello/v1)/dist/index.js"
check "the tree is root's and not writable by others" bash -c "[[ -z \$(find $(tree someone/hello/v1) ! -user root -o -perm /022) ]]"
check "an executable stays executable (0755)" test "$(stat -c %a "$(tree someone/hello/v1)/dist/run.sh")" = 755
out=$(runnerctl action resolve someone/hello@v1)
check "resolve prints the tree and the commit" test "$out" = "$(tree someone/hello/v1) $sha1"
upper=$(tr a-f A-F <<<"$sha1")
check "resolve by commit, owner and repo in any case" test "$(runnerctl action resolve --json "SomeOne/Hello@$upper" | jq -r .commit)" = "$sha1"

# ---- 2. from a file:// URL, by commit and by a branch with a / ----
check "action add by commit from file://" runnerctl action add "someone/hello@$sha2" "file://$repo"
check "... stored at that commit" grep -q 'hello v2' "$(tree "someone/hello/$sha2")/dist/index.js"
check "... once (a commit is its own name)" test "$(runnerctl action list --json | jq "[.[] | select(.commit == \"$sha2\")] | length")" -eq 1
check "action add of a branch with a / from file://" runnerctl action add someone/hello@releases/v1 "file://$repo"
check "... one path component in the store" test -f "$store/someone/hello/releases%2Fv1/tree/action.yml"
check "... at the branch's commit" test "$(field someone/hello@releases/v1 commit)" = "$sha2"
out=$(runnerctl action add "someone/hello@$(tr 0-9 a-j <<<"${sha2:0:40}" | tr g-j 0-3)" "file://$repo" 2>&1); rc=$?
check "a commit the repository does not have is refused (exit $rc)" test "$rc" -eq 1

# ---- 3. from a directory (without .git) and a tarball (its one top directory taken) ----
dir=$work/dir
mkdir -p "$dir/.git" "$dir/lib"
echo 'name: from-dir' >"$dir/action.yml"
echo x >"$dir/.git/HEAD"
echo lib >"$dir/lib/a.sh"
chmod -R a+rX "$dir"
check "action add from a directory" runnerctl action add Dir-Owner/dir-action@v2 "$dir"
check "... its files, owner and repo lowercased" test -f "$store/dir-owner/dir-action/v2/tree/lib/a.sh"
check "... without .git" test ! -e "$store/dir-owner/dir-action/v2/tree/.git"
check "... no commit" test "$(field dir-owner/dir-action@v2 commit)" = null
mkdir -p "$work/tb/hello-1.0"
echo 'name: from-tarball' >"$work/tb/hello-1.0/action.yml"
tar -C "$work/tb" -czf "$work/hello.tar.gz" hello-1.0
check "action add from a .tar.gz" runnerctl action add tar/ball@v3 "$work/hello.tar.gz"
check "... its top directory taken" grep -q from-tarball "$store/tar/ball/v3/tree/action.yml"
mkdir -p "$work/evil/a"
echo evil >"$work/evil/x"
tar -C "$work/evil" -cf "$work/evil.tar" --absolute-names --transform='s,^x,../x,' x
out=$(runnerctl action add tar/evil@v1 "$work/evil.tar" 2>&1); rc=$?
say "$out"
check "a tarball with a .. member is refused (exit $rc)" bash -c "[[ $rc -ne 0 ]] && ! test -e $store/tar/evil"

# ---- 3b. what runnerctl never sends, from another client: the agent's own checks ----
add_fd=$build/tests/add-action-fd
hostile=$work/hostile
mkdir -p "$hostile/victim" "$hostile/src"
echo evil >"$hostile/src/x"
tar -C "$hostile/src" -cf "$hostile/abs.tar" --absolute-names --transform="s,^x,$hostile/victim/x," x
tar -C "$hostile/src" -cf "$hostile/dotdot.tar" --absolute-names --transform='s,^x,../../x,' x
mkfifo "$hostile/src/fifo"
tar -C "$hostile/src" -cf "$hostile/fifo.tar" fifo
ln -s "$hostile/victim" "$hostile/src/l"
tar -C "$hostile/src" -cf "$hostile/climb.tar" l
tar -C "$hostile/src" -rf "$hostile/climb.tar" --transform='s,^x$,l/x,' x
for t in abs dotdot fifo climb; do
        out=$("$add_fd" sealed "hostile/$t@v1" "$hostile/$t.tar"); rc=$?
        say "$t: $out"
        check "the agent refuses a tar with $t (exit $rc)" rc_out 1 'io.runneragent.Agent1.Error.InvalidAction'
done
check "... and nothing got out" bash -c "[[ -z \$(ls -A $hostile/victim) && ! -e $store/hostile && ! -e /x && ! -e ${store%/*}/x ]]"
check "... and nothing is left in .tmp" test -z "$(ls -A "$store/.tmp")"
out=$("$add_fd" unsealed hostile/unsealed@v1 "$work/evil.tar"); rc=$?
check "the agent refuses an unsealed memfd (exit $rc)" rc_out 1 'not a sealed memfd'
chmod 4777 "$hostile/src/x"
tar -C "$hostile/src" -cf "$hostile/ok.tar" --owner=1234 --group=1234 x
out=$("$add_fd" sealed hostile/ok@v1 "$hostile/ok.tar"); rc=$?
check "... and takes a sealed one" rc_out 0 '^hostile/ok@v1$'
check "... a set-ID, world-writable file of another owner made root's 0755" test "$(stat -c '%U %a' "$store/hostile/ok/v1/tree/x")" = "root 755"
runnerctl action remove hostile/ok@v1 >/dev/null

# ---- 4. replacing an entry: atomic, nothing left over ----
check "action add over an existing entry" runnerctl action add someone/hello@v1 "$dir"
check "... replaces its tree" grep -q from-dir "$(tree someone/hello/v1)/action.yml"
check "... and leaves nothing in .tmp" test -z "$(ls -A "$store/.tmp")"

# ---- 5. only root may change the store ----
out=$(runuser -u act-admin -- runnerctl action add a/b@v1 "$dir" 2>&1); rc=$?
say "$out"
check "a member of runner-admin may not add (exit $rc)" rc_out 4 'only root may add'
out=$(runuser -u act-admin -- runnerctl action remove someone/hello@v1 2>&1); rc=$?
check "... nor remove (exit $rc)" bash -c "[[ $rc -eq 4 ]] && test -e $store/someone/hello/v1"
check "... but may list" runuser -u act-admin -- runnerctl action list
out=$(runuser -u act-other -- runnerctl action add a/b@v1 "$dir" 2>&1); rc=$?
check "another user may not add (exit $rc)" test "$rc" -eq 4
check "nothing was added" test ! -e "$store/a"
out=$(busctl call io.runneragent.Agent1 /io/runneragent/Agent1 io.runneragent.Agent1 RemoveAction s '../x@v1' 2>&1); rc=$?
say "$out"
check "the agent refuses a name that would escape the store" rc_out 1 'Invalid action name'

# ---- 6. bad names, missing actions ----
out=$(runnerctl action add ../x "$dir" 2>&1); rc=$?
check "add ../x: usage error naming the form (exit $rc)" rc_out 2 'invalid action name .*owner/repo@ref'
out=$(runnerctl action add a/b@ "$dir" 2>&1); rc=$?
check "add a/b@: the ref is empty (exit $rc)" rc_out 2 'ref after @ is empty'
out=$(runnerctl action add 'a/b@x/../y' "$dir" 2>&1); rc=$?
check "add a ref with ..: refused (exit $rc)" test "$rc" -eq 2
out=$(runnerctl action resolve nobody/missing@v1 2>&1); rc=$?
say "$out"
check "a missing action: exit 1, naming runnerctl action add and Mirror=" rc_out 1 'runnerctl action add nobody/missing@v1' 'Mirror='

# ---- 7. [Actions] Mirror= ----
mkdir -p "${conf%/*}"
printf '[Actions]\nMirror=git://127.0.0.1:%s/\n' "$port" >"$conf"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start with Mirror="; exit 1; }
out=$(runnerctl action resolve other/world@v1 2>&1); rc=$?
say "$out"
check "resolve fetches other/world@v1 from the mirror" test "$out" = "$(tree other/world/v1) $sha1"
# git daemon finds other/world.git as other/world itself; an http(s) mirror may not.
check "... stored under its commit too, with the mirror URL as source" bash -c "[[ \$(runnerctl action list --json | jq -r '.[] | select(.name == \"other/world@$sha1\") | .source') == git://127.0.0.1:$port/other/world?(.git) ]]"
check "... root's, not writable by others" bash -c "[[ -z \$(find $(tree other/world/v1) ! -user root -o -perm /022) ]]"
out=$(runnerctl action resolve "Other/World@$sha2" 2>&1); rc=$?
say "$out"
check "resolve fetches a commit from the mirror (Other/World: tried as written, then lowercase)" test "$out" = "$(tree "other/world/$sha2") $sha2"
check "... with its files" grep -q 'hello v2' "$(tree "other/world/$sha2")/dist/index.js"
out=$(runnerctl action resolve someone/hello@releases/v1 2>&1)
check "an action in the store is not fetched again" test "$out" = "$(tree someone/hello/releases%2Fv1) $sha2"
out=$(runnerctl action resolve other/nothing@v1 2>&1); rc=$?
say "$out"
check "an action the mirror does not have: exit 1, saying so" rc_out 1 'does not have it' 'runnerctl action add other/nothing@v1'
check "nothing is left in .tmp after fetches" test -z "$(ls -A "$store/.tmp")"

# ---- 7b. stopping the agent ends a fetch under way: a mirror that accepts and never answers ----
hang_port=$((port + 1))
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
c, _ = s.accept()
open(sys.argv[2], "w").close()
time.sleep(600)
' "$hang_port" "$marks/accepted" &
hang_pid=$!
printf '[Actions]\nMirror=git://127.0.0.1:%s\n' "$hang_port" >"$conf"
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start with the hanging mirror"; exit 1; }
runnerctl action resolve slow/action@v1 >"$work/slow.out" 2>&1 &
resolve_pid=$!
if wait_for 20 test -e "$marks/accepted"; then
        start=$SECONDS
        systemctl restart runner-agent
        check "a restart during a fetch is not held up by it ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 20
        wait "$resolve_pid"; rc=$?
        out=$(cat "$work/slow.out")
        say "$out"
        check "the resolve under way is answered: the agent is stopping (exit $rc)" rc_out 1 'stopping'
else
        not_ok "git did not reach the hanging mirror"
        kill "$resolve_pid"
fi
kill "$hang_pid" 2>/dev/null
wait "$hang_pid" 2>/dev/null
check "nothing of the fetch is left in .tmp" test -z "$(ls -A "$store/.tmp")"
check "no process of the fetch (the runner user's) is left" bash -c "! pgrep -u runner"

# ---- 8. remove ----
check "action remove" runnerctl action remove someone/hello@v1
check "... the tag is gone, its commit stays" bash -c "! runnerctl action list --json | jq -e '.[] | select(.name == \"someone/hello@v1\")' && runnerctl action list --json | jq -e '.[] | select(.name == \"someone/hello@$sha1\")'"
out=$(runnerctl action remove someone/hello@v1 2>&1); rc=$?
check "removing it again: exit 1, not in the store (exit $rc)" rc_out 1 'not in the action store'
runnerctl action remove dir-owner/dir-action@v2 >/dev/null
check "removing the last entry of a repository removes its directories" test ! -e "$store/dir-owner"

echo "1..$n"
exit $((failed > 0))
