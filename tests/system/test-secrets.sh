#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Secrets (README, "Secrets"), inside the throwaway container: secrets given with runnerctl -s (from
# runnerctl's environment) and --secret-file reach the steps (secrets.NAME, env:), and a step that
# prints them plainly, line by line, base64-encoded, or makes its parent's command line and the
# agent's files show them, leaves nothing but *** in the log, the journal and runnerctl logs; the
# values are found nowhere under /var/lib/runner-agent or in the journal, also after the agent was
# killed and took the run over; a job env: from a secret and a step output holding one keep their real
# values for later steps across a restart of the agent; a job output carrying a secret is dropped with
# a warning; a flood of ::add-mask:: while the agent reads nothing does not keep runner-step from
# reporting the step's end and exiting; a value masked by a step that ends while the agent is down is
# masked in the job's next step; the step's user cannot read the secrets' file. TAP.
#
#   test-secrets.sh BUILD_DIR
set -uo pipefail

build=$1
. "$(dirname "$0")/lib.sh"
require_test_container

scratch test-secrets
dropin=/run/systemd/system/runner-agent.service.d/50-test-secrets.conf
argv_log=/run/test-secrets-argv
trap 'rm -rf "$work" "$marks" "$argv_log" /usr/local/libexec/test-secrets-shim "$dropin" "${restart_dropin:-}"; systemctl daemon-reload' EXIT

install_agent "$build"
# runner-step shows a short title once it has parsed its arguments, so the command lines the agent
# gives it are kept by a wrapper that the agent runs instead (RUNNER_STEP_PATH), for the checks below.
shim=$(find /usr/lib /usr/libexec -name runner-step -type f 2>/dev/null | head -1)
mkdir -p /usr/local/libexec "$(dirname "$dropin")"
printf '#!/bin/bash\nprintf "%%s\\n" "$*" >>%s\nexec %s "$@"\n' "$argv_log" "$shim" >/usr/local/libexec/test-secrets-shim
chmod 0755 /usr/local/libexec/test-secrets-shim
printf '[Service]\nEnvironment=RUNNER_STEP_PATH=/usr/local/libexec/test-secrets-shim\n' >"$dropin"
systemctl daemon-reload
systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }

# The values: distinctive, so that a grep finds them wherever they went.
export ENVSECRET='s1-Zq8vXw3kPr'
filesecret='s2-Hm4tLc9yBn'
export MULTI=$'ml-first-Jd7eQ\nml-second-Wq2rT'
printf '# secrets\n\nFILESECRET=%s\n  # indented comment\n' "$filesecret" >"$work/secrets.env"
b64() { printf '%s' "$1" | base64 -w0 | tr -d =; }
values=("$ENVSECRET" "$filesecret" ml-first-Jd7eQ ml-second-Wq2rT rs-Kp3mZ8 "$(b64 "$ENVSECRET")" "$(b64 "${ENVSECRET:1}")")

cat >"$work/secrets.yml" <<YML
name: secrets
jobs:
  a:
    outputs:
      leaked: \${{ steps.out.outputs.v }}
      fine: \${{ steps.out.outputs.w }}
    steps:
      - id: show
        env:
          X: \${{ secrets.ENVSECRET }}
        run: |
          echo "env: \$X"
          echo 'file: \${{ secrets.FILESECRET }}'
          echo "multi: \${{ secrets.MULTI }}"
          printf '%s\n' "\${{ secrets.MULTI }}" | sed 's/^/line: /' 
          printf '%s' "\$X" | base64 -w0; echo
          printf 'x%s' "\$X" | base64 -w0; echo
          printf 'xx%s' "\$X" | base64 -w0; echo
          printf 'split: %s' "\${X:0:5}"; sleep 0.2; printf '%s\n' "\${X:5}"
          echo "stderr: \$X" >&2
          echo "length: \${#X}"
          echo "::add-mask::\$(printf 'rs-%s' Kp3mZ8)"
          { tr '\0' ' ' < /proc/\$PPID/cmdline; } 2>/dev/null && echo "shim visible" || echo "shim hidden"
          cat /run/runner-agent/secrets/* 2>&1 | head -c 300; echo
          cat /run/runner-agent/r\$GITHUB_RUN_ID/j1/s1.environ 2>&1 | sed 's/^/environ: /' | head -c 300; echo
      - id: wait
        name: wait for \${{ secrets.FILESECRET }}
        run: |
          touch $marks/waiting
          while [ ! -e $marks/go ]; do sleep 0.05; done
      - id: out
        env:
          X: \${{ secrets.ENVSECRET }}
        run: |
          echo "after the restart: \$X, length \${#X}"
          echo "added before the restart: \$(printf 'rs-%s' Kp3mZ8)"
          echo "v=\$X" >> "\$GITHUB_OUTPUT"
          echo "w=plain" >> "\$GITHUB_OUTPUT"
  b:
    needs: a
    steps:
      - run: |
          echo "leaked=[\${{ needs.a.outputs.leaked }}] fine=[\${{ needs.a.outputs.fine }}]"
YML

id=$(runnerctl run -s ENVSECRET --secret-file "$work/secrets.env" -s MULTI -s ACTIONS_STEP_DEBUG=false "$work/secrets.yml")
say "run $id"
check "runnerctl run with secrets submits" test -n "$id"
wait_for 30 test -e "$marks/waiting" || not_ok "the run's second step started"
# A step's /proc does not list its shim (root): its command line is read here, while step 2 runs, and
# the command lines the agent gave it from the wrapper's record.
shims=$(pgrep -a -x runner-step)
check "runner-step's command lines hold no secret" \
        bash -c '[[ $1 == *runner-step* ]] && ! grep -qF -e "$2" -e "$3" <<<"$1"' _ "$shims" "$ENVSECRET" "$filesecret"
check "… nor do those the agent gave it" \
        bash -c '[[ $(grep -c -- "--log=/var/lib/runner-agent/runs/$1/" "$2") -ge 2 ]] && ! grep -qF -e "$3" -e "$4" "$2"' \
        _ "$id" "$argv_log" "$ENVSECRET" "$filesecret"

# Before the end: the agent keeps the secrets in a root-only file under /run, never /var/lib.
f=/run/runner-agent/secrets/r$id
check "the secrets are kept in $f while the run runs" test -f "$f"
check "which is 0600 root, in a 0700 root directory" bash -c \
        "[[ \$(stat -c '%a %u' $f) == '600 0' && \$(stat -c '%a %u' /run/runner-agent/secrets) == '700 0' ]]"
check "the step's user cannot read it" bash -c "! runuser -u runner -- cat $f"

# The agent dies and takes the run over: the later step still has its secret, still masked.
old=$(systemctl show -P MainPID runner-agent)
systemctl kill --kill-who=main --signal=SIGKILL runner-agent
wait_for 30 bash -c '[[ $(systemctl show -P MainPID runner-agent) != 0 && $(systemctl show -P MainPID runner-agent) != '"$old"' ]] && systemctl is-active -q runner-agent'
touch "$marks/go"
check "the run completes" wait_for 60 completed "$id"
journalctl --sync

log1=/var/lib/runner-agent/runs/$id/logs/j1-s1.log
log3=/var/lib/runner-agent/runs/$id/logs/j1-s3.log
say "$(cat "$log1")"
check "the step saw the env: secret (its length)" grep -qx "length: ${#ENVSECRET}" "$log1"
check "env: *** in the log" grep -qx 'env: \*\*\*' "$log1"
check "file: *** in the log" grep -qx 'file: \*\*\*' "$log1"
check "a multi-line secret: ***" grep -qx 'multi: \*\*\*' "$log1"
check "each of its lines alone: ***" bash -c "[[ \$(grep -cx 'line: \*\*\*' $log1) == 2 ]]"
check "stderr: *** in the log" grep -q 'stderr: \*\*\*' "$log1"
check "a value written in two pieces 0.2 s apart: ***" grep -qx 'split: \*\*\*' "$log1"
check "the step could not see its shim in /proc" grep -qx 'shim hidden' "$log1"
check "the secrets' file cannot be read by the step" grep -q '^cat: .*/secrets/.*Permission denied' "$log1"
check "nor its environment file" grep -q '^environ: cat: .*s1.environ: Permission denied' "$log1"
check "after the agent's restart, the secret is there and masked" \
        grep -qx "after the restart: \*\*\*, length ${#ENVSECRET}" "$log3"
check "a value added with ::add-mask:: before the restart is masked after it" \
        grep -qx 'added before the restart: \*\*\*' "$log3"
check "the secrets' file is gone once the run completed" test ! -e "$f"
check "a step name with a secret is shown masked" bash -c \
        "runnerctl status --json $id | jq -e '.jobs[0].steps[1].name == \"wait for ***\"'"
check "a job output carrying a secret is dropped, the other passed on" \
        grep -qx 'leaked=\[\] fine=\[plain\]' /var/lib/runner-agent/runs/$id/logs/j2-s1.log
check "the drop is a journal warning" bash -c \
        "journalctl -q RUNNER_RUN_ID=$id RUNNER_EVENT=output-dropped -o cat | grep -q 'output leaked contains a secret'"

logs=$(runnerctl logs "$id")
journal=$(journalctl -q RUNNER_RUN_ID="$id" -o cat)
check "runnerctl logs shows ***" grep -q 'env: \*\*\*' <<<"$logs"
check "the journal copy shows ***" grep -q 'env: \*\*\*' <<<"$journal"
for v in "${values[@]}"; do
        check "'$v' is not in the log, runnerctl logs or the journal copy" \
                bash -c '! grep -rqF -- "$1" /var/lib/runner-agent/runs/'"$id"'/logs && ! grep -qF -- "$1" <<<"$2$3"' _ "$v" "$logs" "$journal"
        check "'$v' is nowhere under /var/lib/runner-agent" bash -c '! grep -rqaF -- "$1" /var/lib/runner-agent' _ "$v"
        check "'$v' is nowhere in the journal" bash -c '! journalctl -q -o export | grep -qaF -- "$1"' _ "$v"
done

# ---- values that hold a secret, across a restart of the agent ----
# A job's env: from secrets and a step's output that contains one are kept masked in the run's state;
# the restarted agent must give the later steps the real values, never writing them under /var/lib.
cat >"$work/restart.yml" <<YML
name: secrets-restart
jobs:
  r:
    env:
      JOBSECRET: \${{ secrets.ENVSECRET }}
      JOBMIX: pre-\${{ secrets.FILESECRET }}-post
    steps:
      - id: o
        run: |
          echo "tok=x-\$JOBSECRET-y" >> "\$GITHUB_OUTPUT"
          echo "plain=p" >> "\$GITHUB_OUTPUT"
      - run: |
          touch $marks/r-waiting
          while [ ! -e $marks/r-go ]; do sleep 0.05; done
      - env:
          OUT: \${{ steps.o.outputs.tok }}
          PLAIN: \${{ steps.o.outputs.plain }}
        run: |
          echo "job env: \$(printf %s "\$JOBSECRET" | sha256sum | cut -c1-64)"
          echo "job env mixed: \$(printf %s "\$JOBMIX" | sha256sum | cut -c1-64)"
          echo "step output: \$(printf %s "\$OUT" | sha256sum | cut -c1-64) plain=\$PLAIN"
          [ "\$JOBSECRET" = '\${{ secrets.ENVSECRET }}' ] && [ "\$JOBMIX" = 'pre-\${{ secrets.FILESECRET }}-post' ] &&
            [ "\$OUT" = 'x-\${{ secrets.ENVSECRET }}-y' ]
YML
sha() { printf %s "$1" | sha256sum | cut -c1-64; }
id=$(runnerctl run -s ENVSECRET --secret-file "$work/secrets.env" "$work/restart.yml")
check "a run whose job env and step output hold secrets submits" test -n "$id"
wait_for 30 test -e "$marks/r-waiting" || not_ok "its second step started"
check "its state holds the job env masked" bash -c \
        "jq -e '.jobs[0].env.JOBSECRET == \"***\"' /var/lib/runner-agent/runs/$id/run-state.json"
check "the agent restarts under it" systemctl restart runner-agent
touch "$marks/r-go"
check "the run completes" wait_for 60 completed "$id"
rlog=/var/lib/runner-agent/runs/$id/logs/j1-s3.log
say "$(cat "$rlog")"
check "after the restart a later step has the job env from a secret as it was" \
        grep -qx "job env: $(sha "$ENVSECRET")" "$rlog"
check "and a job env with a secret inside" grep -qx "job env mixed: $(sha "pre-$filesecret-post")" "$rlog"
check "and a step output that contains a secret" grep -qx "step output: $(sha "x-$ENVSECRET-y") plain=p" "$rlog"
check "the run concludes success, as without the restart" bash -c \
        "runnerctl status --json $id | jq -e '.conclusion == \"success\"'"
for v in "$ENVSECRET" "$filesecret"; do
        check "'$v' is nowhere under /var/lib/runner-agent after the restart" \
                bash -c '! grep -rqaF -- "$1" /var/lib/runner-agent' _ "$v"
done
check "the run's secrets' file is gone once it completed" test ! -e "/run/runner-agent/secrets/r$id"

# ---- a flood of ::add-mask:: while the agent reads nothing ----
# The agent is stopped (SIGSTOP: its end of the control socket stays open, unread) while a step adds
# 20,000 masks and exits: runner-step must still report the exit and end, not wait for the agent. What
# the socket did not take reaches the job from runner-step's record, up to what a job takes (1000).
cat >"$work/maskflood.yml" <<YML
jobs:
  f:
    steps:
      - run: |
          touch $marks/mf-waiting
          while [ ! -e $marks/mf-go ]; do sleep 0.05; done
          for i in \$(seq 20000); do echo "::add-mask::mf-\$i-Xr7"; done
          echo "first: mf-1-Xr7"
      - run: |
          echo "later: mf-1-Xr7"
          echo "last: mf-1000-Xr7"
YML
id=$(runnerctl run "$work/maskflood.yml")
wait_for 30 test -e "$marks/mf-waiting" || not_ok "the mask flood's step started"
agent=$(systemctl show -P MainPID runner-agent)
kill -STOP "$agent"
touch "$marks/mf-go"
# Well inside the agent's WatchdogSec= (30 s).
check "with the agent stopped, the flooding step's runner-step records the exit and ends" \
        wait_for 15 bash -c "test -e /var/lib/runner-agent/runs/$id/logs/j1-s1.exit && ! pgrep -f '^runner-step runner-r$id-j1-s1\.scope' >/dev/null"
kill -CONT "$agent"
check "the run completes" wait_for 60 completed "$id"
check "and succeeds" bash -c "runnerctl status --json $id | jq -e '.conclusion == \"success\"'"
check "the flood's values are masked in its step" grep -qx 'first: \*\*\*' "/var/lib/runner-agent/runs/$id/logs/j1-s1.log"
check "and one it sent before the socket filled in the job's next step" \
        grep -qx 'later: \*\*\*' "/var/lib/runner-agent/runs/$id/logs/j1-s2.log"
check "and the job's last (the 1000th), which the full socket did not take, from runner-step's record" \
        grep -qx 'last: \*\*\*' "/var/lib/runner-agent/runs/$id/logs/j1-s2.log"

# ---- workflow commands ----
cat >"$work/commands.yml" <<'YML'
jobs:
  c:
    steps:
      - id: so
        run: |
          v=$(printf 'am-%s' Vb6nQx2p) # the value is in no file: only its pieces are
          echo "::add-mask::$v"
          echo "added: $v"
          echo "::error file=a.c,line=3::boom"
          echo "::warning title=T%3Ax,col=2,line=1,file=b.c::careful%0Atwo lines"
          echo "::notice::fyi"
          echo '::notice title=q"u\ote::a"b\c%0Ad'"$(printf '\t')"'e'
          echo '::warning file=../../etc/passwd,line=0,col=-1,endLine=x::odd'
          for i in $(seq 12); do echo "::error::e$i"; done
          echo "::group::My group"; echo "inside"; echo "::endgroup::"
          echo "::debug::hidden debug"
          echo "::stop-commands::tok123"
          echo "::error::not a command now"
          echo "::tok123::"
          echo "::set-output name=legacy::lv"
          echo "::save-state name=s::v"
          echo "::set-env name=A::1"
          echo "::add-path::/x"
          echo "  ::notice::indented"
          echo "::unknown::stays"
          echo "::error::on stderr" >&2
          echo "after: done"
      - run: |
          echo "next step: $(printf 'am-%s' Vb6nQx2p); legacy=${{ steps.so.outputs.legacy }}"
YML
id=$(runnerctl run --wait "$work/commands.yml"); rc=$?
check "a run with workflow commands succeeds (set-env and add-path refused, the step goes on)" test "$rc" -eq 0
clog=/var/lib/runner-agent/runs/$id/logs/j1-s1.log
say "$(cat "$clog")"
check "::add-mask:: masks at once" grep -qx 'added: \*\*\*' "$clog"
check "and in the job's later steps" grep -q '^next step: \*\*\*; legacy=lv$' /var/lib/runner-agent/runs/$id/logs/j1-s2.log
check "command lines are not in the log" bash -c "! grep -qE '^ *::(add-mask|warning|notice|group|endgroup|debug|stop-commands|set-output|save-state|set-env|add-path|tok123)::' $clog"
check "::error:: is shown as ##[error]" grep -qx '##\[error\]boom' "$clog"
check "also from stderr" grep -q '##\[error\]on stderr' "$clog"
check "group and endgroup" bash -c "grep -qx '##\[group\]My group' $clog && grep -qx inside $clog && grep -qx '##\[endgroup\]' $clog"
check "::debug:: is left out without ACTIONS_STEP_DEBUG" bash -c "! grep -q 'hidden debug' $clog"
check "after ::stop-commands:: commands are output" grep -qx '::error::not a command now' "$clog"
check "until ::TOKEN::, which is consumed" bash -c "! grep -q tok123 $clog"
check "::set-output works, with GitHub's deprecation warning" grep -q '^##\[warning\]The `set-output` command is deprecated' "$clog"
check "::save-state gets the warning too" grep -q '^##\[warning\]The `save-state` command is deprecated' "$clog"
check "::set-env is refused as on GitHub" grep -q '^##\[error\]The `set-env` command is disabled' "$clog"
check "::add-path is refused as on GitHub" grep -q '^##\[error\]The `add-path` command is disabled' "$clog"
check "an unknown command is output" grep -qx '::unknown::stays' "$clog"
check "the step went on after them" grep -qx 'after: done' "$clog"
json=$(runnerctl status --json "$id")
check "annotations in status --json: the first error with file and line" jq -e \
        '.jobs[0].steps[0].annotations[0] == {"level":"error","message":"boom","file":"a.c","line":3,"endLine":null,"col":null,"endColumn":null,"title":null}' <<<"$json"
check "a warning's properties unescaped" jq -e \
        '[.jobs[0].steps[0].annotations[] | select(.level == "warning")][0] | .title == "T:x" and .message == "careful\ntwo lines" and .col == 2 and .line == 1 and .file == "b.c"' <<<"$json"
check "at most 10 errors a step, as GitHub keeps" jq -e '[.jobs[0].steps[0].annotations[] | select(.level == "error")] | length == 10' <<<"$json"
check "an indented ::notice:: is a command" jq -e '[.jobs[0].steps[0].annotations[] | select(.level == "notice")] | map(.message) == ["fyi", "a\"b\\c\nd\te", "indented"]' <<<"$json"
check "quotes, backslashes, newlines and tabs of a message arrive exactly" jq -e \
        '[.jobs[0].steps[0].annotations[] | select(.level == "notice")][1] | .title == "q\"u\\ote" and .message == "a\"b\\c\nd\te"' <<<"$json"
check "numbers that are not positive integers are left out" jq -e \
        '[.jobs[0].steps[0].annotations[] | select(.message == "odd")][0] | .file == "../../etc/passwd" and .line == null and .col == null and .endLine == null' <<<"$json"
check "runnerctl status shows them" bash -c "runnerctl status $id | grep -q 'error a.c:3: boom'"
check "the masked value is nowhere under /var/lib/runner-agent" bash -c '! grep -rqaF am-Vb6nQx2p /var/lib/runner-agent'
journalctl --sync
check "nor in the journal" bash -c '! journalctl -q -o export | grep -qaF am-Vb6nQx2p'

printf 'jobs:\n  d:\n    steps:\n      - run: echo "::debug::shown debug"\n' >"$work/debug.yml"
id=$(runnerctl run --wait -s ACTIONS_STEP_DEBUG=true "$work/debug.yml")
check "::debug:: is shown with the secret ACTIONS_STEP_DEBUG=true" \
        grep -qx '##\[debug\]shown debug' /var/lib/runner-agent/runs/$id/logs/j1-s1.log

# ---- a value written in two pieces around the entry's exit: a background process writes the rest ----
cat >"$work/background.yml" <<'YML'
jobs:
  bg:
    steps:
      - env:
          X: ${{ secrets.BG }}
        run: |
          printf 'bg: %s' "${X:0:5}"
          (sleep 0.5; printf '%s\n' "${X:5}"; printf 'bg2: %s' "${X:0:5}") &
          printf 'stderr bg: %s' "${X:0:5}" >&2
          (sleep 0.5; printf '%s\n' "${X:5}" >&2) &
      - run: sleep 1.5
YML
bgsecret='bg-Rw5Tn8Lq2Yx'
id=$(runnerctl run --wait -s BG="$bgsecret" "$work/background.yml")
check "a run with background writers is submitted" test -n "$id"
blog=/var/lib/runner-agent/runs/$id/logs/j1-s1.log
say "$(cat "$blog")"
journalctl --sync
check "the pieces written before and after the entry's exit are masked as one" \
        bash -c '[[ $(grep -o "\*\*\*" "$1" | wc -l) == 2 ]]' _ "$blog"
check "what was held back at the end of the output comes out at the stream's end" \
        bash -c '[[ $(grep -o "bg-Rw" "$1" | wc -l) == 1 && $(tail -c 80 "$1") == *bg-Rw* ]]' _ "$blog"
check "'$bgsecret' is nowhere under /var/lib/runner-agent" bash -c '! grep -rqaF -- "$1" /var/lib/runner-agent' _ "$bgsecret"
check "'$bgsecret' is nowhere in the journal" bash -c '! journalctl -q -o export | grep -qaF -- "$1"' _ "$bgsecret"

# ---- a secret in the name of an output or of a variable of $GITHUB_ENV ----
cat >"$work/names.yml" <<'YML'
jobs:
  k:
    steps:
      - id: w
        env:
          X: ${{ secrets.NAMESECRET }}
        run: |
          echo "o_$X=1" >> "$GITHUB_OUTPUT"
          echo "E_$X=1" >> "$GITHUB_ENV"
      - run: env | grep -c '^E_' 
YML
namesecret='nm7Qx2VbKp'
id=$(runnerctl run --wait -s NAMESECRET="$namesecret" "$work/names.yml"); rc=$?
check "a run with secrets in names succeeds" bash -c '[[ $1 == 0 && -n $2 ]]' _ "$rc" "$id"
check "the later step has the variable" grep -qx 1 /var/lib/runner-agent/runs/$id/logs/j1-s2.log
json=$(runnerctl status --json "$id")
say "$(jq -c '.jobs[0].steps[0].outputs' <<<"$json")"
check "the output's name is shown masked" jq -e '.jobs[0].steps[0].outputs | has("o_***")' <<<"$json"
check "'$namesecret' is not in runnerctl status --json" bash -c '! grep -qF -- "$1" <<<"$2"' _ "$namesecret" "$json"
check "'$namesecret' is nowhere under /var/lib/runner-agent" bash -c '! grep -rqaF -- "$1" /var/lib/runner-agent' _ "$namesecret"

# ---- error messages that quote a value: a secret in them is masked ----
# A format string or a line of $GITHUB_ENV that cannot be used is quoted in the step's or job's
# message, which goes to run-state.json, the journal and runnerctl status.
cat >"$work/messages.yml" <<'YML'
jobs:
  m:
    steps:
      - run: echo '${{ format(secrets.BRACE) }}'
      - if: always()
        env:
          X: ${{ secrets.PLAIN }}
        run: echo "$X" >> "$GITHUB_ENV"
      - if: always()
        env:
          X: ${{ secrets.LONG }}
        run: echo "A $X" >> "$GITHUB_ENV"
      - if: always()
        run: echo '${{ format(secrets.LONG) }}'
  n:
    env:
      Y: ${{ format(secrets.BRACE) }}
    steps:
      - run: 'true'
YML
bracesecret='br-Tx5{Qm8'
plainsecret='pl-Nv7Jw2Rz'
# Longer than the quotes, which are cut with "…": what is left of the value in them is masked too.
longsecret="lg-{$(printf 'Kq7' | head -c 3)$(printf 'x%.0s' {1..190})Zt4"
id=$(runnerctl run --wait -s BRACE="$bracesecret" -s PLAIN="$plainsecret" -s LONG="$longsecret" "$work/messages.yml")
check "a run whose evaluations fail on secrets is submitted" test -n "$id"
json=$(runnerctl status --json "$id")
messages=$(jq -r '.jobs[0].steps[].message, .jobs[1].message' <<<"$json")
say "$messages"
check "a format string that is a secret is quoted masked in the step's message" \
        grep -q 'format string.*: \*\*\*$' <<<"$messages"
check "a line of \$GITHUB_ENV that is a secret is quoted masked" \
        grep -q "^GITHUB_ENV: .*'\\*\\*\\*'$" <<<"$messages"
check "a job's env: quoting a secret is masked in the job's message" \
        bash -c '[[ $(grep -c "format string.*: \*\*\*$" <<<"$1") == 2 ]]' _ "$messages"
check "a long secret cut in a quote of \$GITHUB_ENV is masked up to the cut" \
        grep -q "^GITHUB_ENV: .*'A \\*\\*\\*…'$" <<<"$messages"
check "and in a quoted format string" grep -q 'format string.*: \*\*\*…$' <<<"$messages"
journalctl --sync
for v in "$bracesecret" "$plainsecret" "${longsecret:0:20}"; do
        check "'$v' is not in runnerctl status" bash -c '! runnerctl status "$1" | grep -qF -- "$2" && ! grep -qF -- "$2" <<<"$3"' _ "$id" "$v" "$json"
        check "'$v' is nowhere under /var/lib/runner-agent" bash -c '! grep -rqaF -- "$1" /var/lib/runner-agent' _ "$v"
        check "'$v' is nowhere in the journal" bash -c '! journalctl -q -o export | grep -qaF -- "$1"' _ "$v"
done

# ---- a working directory named by a secret: in no command line (/proc/PID/cmdline is anyone's) ----
# A step's /proc does not list its shim (root): runner-step's command line is read here, while the
# step waits. A step's /var/tmp is its job's own, so the directory is under /srv.
wdsecret=/srv/wd-Xk9pQ2Lm
mkdir -m 0777 -p "$wdsecret"
rm -f "$marks/pwd" "$marks/cmdline-read"
cat >"$work/workdir.yml" <<YML
jobs:
  w:
    steps:
      - working-directory: \${{ secrets.WDIR }}
        run: |
          pwd > $marks/pwd
          while [ ! -e $marks/cmdline-read ]; do sleep 0.05; done
YML
id=$(runnerctl run -s WDIR="$wdsecret" "$work/workdir.yml")
wait_for 30 test -s "$marks/pwd" || not_ok "the step in the secret working directory started"
pgrep -a -x runner-step >"$marks/cmdline"
touch "$marks/cmdline-read"
wait_for 30 bash -c '[[ $(runnerctl status --json "$1" | jq -r .status) == completed ]]' _ "$id"
say "$(cat "$marks/cmdline")"
check "a step runs in a working directory that is a secret" \
        bash -c '[[ $(runnerctl status --json "$1" | jq -r .conclusion) == success && $(cat "$2/pwd") == "$3" ]]' _ "$id" "$marks" "$wdsecret"
check "runner-step's command line is read" grep -q 'runner-step' "$marks/cmdline"
check "and does not hold the directory" bash -c '! grep -qF -- "$1" "$2/cmdline"' _ "$wdsecret" "$marks"
check "… nor does the one the agent gave it" \
        bash -c 'grep -q -- "--log=/var/lib/runner-agent/runs/$3/" "$2" && ! grep -qF -- "$1" "$2"' _ "$wdsecret" "$argv_log" "$id"
rmdir "$wdsecret"

# ---- ::add-mask:: by a step that ends while the agent is down: its value still masked in the next ----
# runner-step sends the value on the control socket and, before its exit status, records it in a file
# only root can read beside the run's secrets. The restarted agent finds the step ended (its exit file)
# and takes the values from both before it goes on. First with a process the step left behind keeping
# runner-step, and so the socket, alive until then; then with runner-step gone before the agent is
# back, when systemd has dropped the socket (its other end closed) and only the record is left.
restart_dropin=/run/systemd/system/runner-agent.service.d/60-test-secrets-restart.conf
printf '[Service]\nRestartSec=4s\n' >"$restart_dropin"
systemctl daemon-reload
addmask_across_restart() { # VALUE BACKGROUND("sleep 30 &" or "") WHAT [PRELUDE]
        local value=$1 background=$2 what=$3 prelude=${4:-} id old down log2 record
        rm -f "$marks/am-waiting" "$marks/am-go"
        cat >"$work/addmask.yml" <<YML
jobs:
  a:
    steps:
      - run: |
          touch $marks/am-waiting
          while [ ! -e $marks/am-go ]; do sleep 0.05; done
          $prelude
          echo "::add-mask::$value"
          $background
      - run: 'echo "after: $value"'
YML
        id=$(runnerctl run "$work/addmask.yml") || not_ok "the workflow with ::add-mask:: was refused"
        wait_for 30 test -e "$marks/am-waiting" || not_ok "the masking step started"
        old=$(systemctl show -P MainPID runner-agent)
        systemctl kill --kill-who=main --signal=SIGKILL runner-agent
        touch "$marks/am-go"
        wait_for 10 test -e "/var/lib/runner-agent/runs/$id/logs/j1-s1.exit"
        record=/run/runner-agent/secrets/r$id.j1.s1.masked
        if [[ -z $background ]]; then
                check "$what: runner-step has exited while the agent is down" wait_for 10 bash -c '! pgrep -x runner-step >/dev/null'
        fi
        check "$what: runner-step recorded the value in a file only root can read" \
                bash -c '[[ $(stat -c %U:%a "$1") == root:600 ]] && grep -qaF -- "$2" "$1"' _ "$record" "$value"
        # Looked at after the record: still down, so the record was runner-step's, not yet taken.
        down=$(systemctl show -P SubState runner-agent)
        check "$what: the masking step ended while the agent was down (runner-agent: $down)" test "$down" = auto-restart
        wait_for 30 bash -c '[[ $(systemctl show -P MainPID runner-agent) != 0 && $(systemctl show -P MainPID runner-agent) != '"$old"' ]] && systemctl is-active -q runner-agent'
        check "$what: the run completes after the restart" wait_for 60 completed "$id"
        log2=/var/lib/runner-agent/runs/$id/logs/j1-s2.log
        say "$what: the next step's log: $(cat "$log2" 2>/dev/null)"
        check "$what: the value it masked is masked in the job's next step" grep -qx 'after: \*\*\*' "$log2"
        check "$what: … and is nowhere in that log" bash -c '! grep -q -- "$1" "$2"' _ "$value" "$log2"
        check "$what: the record is gone with the run" bash -c '! compgen -G "/run/runner-agent/secrets/r$1.*" >/dev/null' _ "$id"
}
addmask_across_restart am-9Tq4Zr 'sleep 30 &' "runner-step alive"
addmask_across_restart am-Xw3kP7 '' "runner-step gone"
# Values masked again must not take the record's room (a job keeps 256 KiB, 1000 values) or fill the
# queue of messages before a new value comes.
addmask_across_restart am-Vq8cJ2 '' "after repeats" \
        'big=$(head -c 16384 /dev/zero | tr "\\0" B); for i in $(seq 16); do echo "::add-mask::$big"; done; for i in $(seq 4200); do echo "::add-mask::rep-V1"; done' 
rm -f "$restart_dropin"
systemctl daemon-reload

# ---- a bad secret file or name: a clear error, no run ----
printf 'GOOD=1\nnot a secret\n' >"$work/bad.env"
err=$(runnerctl run --secret-file "$work/bad.env" "$work/secrets.yml" 2>&1); rc=$?
check "a bad line of --secret-file is refused as FILE:LINE, exit 2" \
        bash -c '[[ $1 == 2 && $2 == *"bad.env:2: expected NAME=VALUE"* ]]' _ "$rc" "$err"
err=$(runnerctl run -s GITHUB_TOKEN=x "$work/secrets.yml" 2>&1); rc=$?
check "a GITHUB_ name is refused, exit 2" bash -c '[[ $1 == 2 && $2 == *"invalid secret name"* ]]' _ "$rc" "$err"
err=$(env -u NOSUCH runnerctl run -s NOSUCH "$work/secrets.yml" 2>&1); rc=$?
check "-s NAME without \$NAME is refused, exit 2" bash -c '[[ $1 == 2 && $2 == *"no variable NOSUCH"* ]]' _ "$rc" "$err"
err=$(busctl call io.runneragent.Agent1 /io/runneragent/Agent1 io.runneragent.Agent1 SubmitWithSecrets \
        ssa{ss} x "jobs: {a: {steps: [{run: 'true'}]}}" 1 1BAD v 2>&1); rc=$?
check "the agent refuses a bad name in SubmitWithSecrets too" bash -c '[[ $1 != 0 && $2 == *"Invalid secret name"* ]]' _ "$rc" "$err"

echo "1..$n"
((failed == 0))
