#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The package suite's half inside a booted clean Debian 12 container (test-package.sh starts it
# through tests/container/run --root): installs runner-agent's .deb with apt-get, uses it as a
# member of runner-admin, upgrades it under a running step, removes and purges it. TAP, numbered
# from $TAP_START + 1.
#
#   test-inside.sh DIR OLD_VERSION NEW_VERSION    (DIR holds runner-agent_<VERSION>_<arch>.deb)
set -uo pipefail

dir=$1 old=$2 new=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../system/lib.sh
source "$here/../system/lib.sh"
n=${TAP_START:-0}
require_test_container

export DEBIAN_FRONTEND=noninteractive
arch=$(dpkg --print-architecture)
deb_old=$dir/runner-agent_${old}_$arch.deb
deb_new=$dir/runner-agent_${new}_$arch.deb
work=/var/tmp/package-test
mkdir -p -m 0755 "$work"

# check_none DESCRIPTION COMMAND...: passes when COMMAND prints nothing; what it printed otherwise.
check_none() {
        local d=$1 left; shift
        left=$("$@" 2>&1)
        if [[ -z $left ]]; then ok "$d"; else not_ok "$d"; say "$left"; fi
}
as_tester() { runuser -u tester -- "$@"; }
run_status() { as_tester runnerctl status --json "$1" | jq -r "$2"; }
completed() { [[ $(run_status "$1" .status) == completed ]]; }
step_log_has() { as_tester runnerctl logs "$1" | grep -qx "$2"; }
# Files that are not the package's and not the system's own state: what must not stay behind.
snapshot() {
        find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp \
                -o -path /var/log -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg \
                -o -path /home -o -path /root -o -path "$dir" -o -path "${here%/tests/package}" \) -prune \
                -o -print | sort
}

# A step that says when it started, records any signal it gets, and ends when released.
cat >"$work/long.yml" <<'EOF'
jobs:
  hold:
    steps:
      - name: hold
        run: |
          trap 'echo "got SIGINT"; exit 130' INT
          trap 'echo "got SIGTERM"; exit 143' TERM
          echo started
          for i in $(seq 1 1200); do
            [ -e /run/package-test-release ] && break
            sleep 0.1
          done
          echo finished
EOF
cat >"$work/hello.yml" <<'EOF'
jobs:
  hello:
    steps:
      - run: echo "hello from $GITHUB_JOB as $(id -un)"
EOF
chmod 0644 "$work"/*.yml

snapshot >"$work/before"
# The root has systemd and dbus only to boot and to be driven: as automatically installed packages,
# they stay after the install only if runner-agent's Depends hold them.
apt-mark auto systemd systemd-sysv dbus >/dev/null

# --- install
if apt-get install -y -q --no-install-recommends "$deb_old" >"$work/apt-install.log" 2>&1; then
        ok "apt-get install ./runner-agent_${old}_$arch.deb (Depends resolved from the archive)"
else
        not_ok "apt-get install ./runner-agent_${old}_$arch.deb"
        sed 's/^/# /' "$work/apt-install.log" | tail -n 30
        echo "Bail out! the package did not install"
        exit 1
fi
# Only Depends count: systemd's Recommends (dbus) must not hide a Depends left out.
apt-get autoremove --dry-run -o APT::AutoRemove::RecommendsImportant=false \
        -o APT::AutoRemove::SuggestsImportant=false >"$work/autoremove" 2>&1
if grep -q -E '^Remv (dbus|systemd|libsystemd0) ' "$work/autoremove"; then
        not_ok "the package's Depends hold the system bus and systemd"
        grep '^Remv' "$work/autoremove" | sed 's/^/# /'
else
        ok "the package's Depends hold the system bus and systemd"
fi
check "runner-agent.service is enabled" systemctl is-enabled runner-agent.service
check "runner-agent.service was started on install" wait_for 30 systemctl is-active runner-agent.service
check "user runner and group runner-admin exist (sysusers)" bash -c 'getent passwd runner && getent group runner-admin'
check "state directories exist with their modes (tmpfiles)" \
        bash -c '[[ $(stat -c "%a %U %G" /var/lib/runner-agent/runs) == "750 root runner-admin" &&
                   $(stat -c "%a %U" /var/lib/runner-agent/home) == "755 root" ]]'

useradd --create-home --groups runner-admin,systemd-journal tester
check "D-Bus policy: a user outside runner-admin is refused (exit 4)" \
        bash -c 'useradd --no-create-home stranger; runuser -u stranger -- runnerctl list; [[ $? -eq 4 ]]'

# --- use, as a member of runner-admin
out=$(as_tester runnerctl run --wait "$work/hello.yml" 2>&1)
rc=$?
if [[ $rc -eq 0 ]]; then ok "runnerctl run --wait as tester: success"; else not_ok "runnerctl run --wait as tester: exit $rc"; say "$out"; fi
run=$(as_tester runnerctl list --json | jq -r 'map(.id) | max')
# Each job runs as a user of its own, runner-<N>, that exists while it runs (README, "Steps are
# untrusted").
check "the step ran as a job user of its own (runner-<N>), known by name (nss-systemd)" \
        bash -c 'runuser -u tester -- runnerctl logs "$1" | grep -qxE "hello from hello as runner-[0-9]+"' _ "$run" ||
        say "its log: $(as_tester runnerctl logs "$run" 2>&1 | head -c 300)"

run=$(as_tester runnerctl run "$work/long.yml")
if wait_for 60 step_log_has "$run" started && as_tester runnerctl cancel "$run" >/dev/null &&
        wait_for 60 completed "$run"; then
        ok "runnerctl cancel as tester: run $run completed"
else
        not_ok "runnerctl cancel as tester: run $run did not complete"
fi
check "the cancelled run concluded cancelled" test "$(run_status "$run" .conclusion)" = cancelled
check "the step got SIGINT" step_log_has "$run" "got SIGINT"
check "runnerctl events as tester shows the interrupt" \
        bash -c "runuser -u tester -- runnerctl events --json $run | jq -e 'any(.[]; .RUNNER_EVENT == \"interrupt\")'"
check "journalctl -x as tester explains the events (catalog installed)" \
        bash -c "runuser -u tester -- journalctl -x -q RUNNER_RUN_ID=$run | grep -q 'Defined-By: runner-agent'"
check "man runnerctl renders" bash -c 'runuser -u tester -- env MANWIDTH=80 man runnerctl 2>&1 | grep -q "runnerctl - submit, inspect and cancel"'
check "man runner-agent.conf documents MaxParallelJobs=" bash -c 'MANWIDTH=80 man 5 runner-agent.conf 2>/dev/null | grep -q MaxParallelJobs='

# --- upgrade under a running step
run=$(as_tester runnerctl run "$work/long.yml")
wait_for 60 step_log_has "$run" started || not_ok "the long step started"
pid_before=$(systemctl show -P MainPID runner-agent.service)
# The step's entry: the bash in its scope's payload leaf (README, "Running workflows").
scope_cg=/sys/fs/cgroup$(systemctl show -P ControlGroup "runner-r$run-j1-s1.scope")
step_pid=""
for p in $(cat "$scope_cg/payload/cgroup.procs" 2>/dev/null); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == bash ]] && step_pid=$p
done
[[ -n $step_pid ]] || not_ok "the step's entry process is in runner-r$run-j1-s1.scope/payload"
agent_restarted() {
        local p
        p=$(systemctl show -P MainPID runner-agent.service)
        [[ $p != 0 && $p != "$pid_before" ]]
}
since=$(date '+%Y-%m-%d %H:%M:%S')
if apt-get install -y -q --no-install-recommends "$deb_new" >"$work/apt-upgrade.log" 2>&1; then
        ok "apt-get install ./runner-agent_${new}_$arch.deb upgrades $old to $new"
else
        not_ok "upgrade to $new"
        sed 's/^/# /' "$work/apt-upgrade.log" | tail -n 30
fi
check "the package is at $new" test "$(dpkg-query -W -f='${Version}' runner-agent)" = "$new"
check "the agent was restarted (a new main PID)" wait_for 30 agent_restarted
check "the old agent handed over (agent-handed-over), the new one took the step over (agent-readopted)" \
        bash -c "journalctl -q --since '$since' RUNNER_EVENT=agent-handed-over | grep -q . &&
                 journalctl -q --since '$since' RUNNER_EVENT=agent-readopted | grep -q ."
check "the step's entry process lives on through the upgrade" kill -0 "${step_pid:-0}"
check "the step is still running after the upgrade" test "$(run_status "$run" '.jobs[0].steps[0].status')" = in_progress
touch /run/package-test-release
if wait_for 60 completed "$run"; then ok "the run completed after the upgrade"; else not_ok "the run did not complete"; fi
check "it concluded success" test "$(run_status "$run" .conclusion)" = success
check "the step finished, got no signal, and started once" \
        bash -c "log=\$(runuser -u tester -- runnerctl logs $run); [[ \$log == *finished* && \$log != *got* &&
                 \$(grep -c '^started\$' <<<\"\$log\") -eq 1 ]]"
rm -f /run/package-test-release

# --- remove: stops the agent, which cancels the runs
run=$(as_tester runnerctl run "$work/long.yml")
wait_for 60 step_log_has "$run" started || not_ok "the long step started"
if apt-get remove -y -q runner-agent >"$work/apt-remove.log" 2>&1; then ok "apt-get remove"; else not_ok "apt-get remove"; sed 's/^/# /' "$work/apt-remove.log" | tail -n 20; fi
check "remove stopped the agent" bash -c '! systemctl is-active runner-agent.service'
check "remove cancelled the running run (state.json: cancelled, step got SIGINT)" \
        bash -c "jq -e '.conclusion == \"cancelled\"' /var/lib/runner-agent/runs/$run/state.json &&
                 grep -qx 'got SIGINT' /var/lib/runner-agent/runs/$run/logs/j1-s1.log"
check "no process of the steps' users is left" bash -c '! pgrep -u "$(seq -s, 60500 60999)"'

# --- purge
if apt-get purge -y -q runner-agent >"$work/apt-purge.log" 2>&1; then ok "apt-get purge"; else not_ok "apt-get purge"; sed 's/^/# /' "$work/apt-purge.log" | tail -n 20; fi
check_none "no runner-agent unit is left (unit files, loaded units)" \
        bash -c 'systemctl list-unit-files --no-legend "runner*"; systemctl list-units --all --no-legend "runner*"'
check "no configuration or state is left" bash -c '[[ ! -e /etc/runner-agent && ! -e /var/lib/runner-agent && ! -e /run/runner-agent ]]'
check_none "no runner-agent, runner-step or step process is left" \
        bash -c 'pgrep -a -x runner-agent; pgrep -a -x runner-step; pgrep -a -u "$(seq -s, 60500 60999)"
                 for e in /proc/[0-9]*/exe; do l=$(readlink "$e"); [[ $l == *" (deleted)" ]] && echo "$e: $l"; done'
check "no file owned by runner or runner-admin is left" \
        bash -c '[[ -z $(find / -xdev \( -path /proc -o -path /sys \) -prune -o \( -user runner -o -group runner-admin \) -print) ]]'
snapshot >"$work/after"
# What appeared and stayed: files of the packages the Depends brought (dbus, …) and the system's
# own state are allowed; anything else is something runner-agent left outside its package.
comm -13 "$work/before" "$work/after" | while read -r f; do
        [[ -d $f ]] && continue
        dpkg-query -S "$f" >/dev/null 2>&1 && continue
        case $f in
        /etc/passwd* | /etc/group* | /etc/shadow* | /etc/gshadow* | /etc/subuid* | /etc/subgid*) ;;
        /etc/ld.so.cache | /etc/machine-id | /var/lib/dbus/machine-id | /var/lib/systemd/catalog/database) ;;
        /etc/systemd/*/*.wants/dbus* | /var/lib/systemd/deb-systemd-*/*dbus*) ;;
        *) echo "$f" ;;
        esac
done >"$work/left"
if [[ ! -s $work/left ]]; then
        ok "purge left no file outside a package"
else
        not_ok "purge left files outside any package"
        sed 's/^/# left: /' "$work/left" | head -n 40
fi
echo "# tap-count $n"
