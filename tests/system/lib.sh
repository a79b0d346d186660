# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shared by the shell tests and benchmarks that drive the installed agent inside the test container:
# TAP helpers, the skip rule, and installing the build as the packages would.

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { # check DESCRIPTION COMMAND...
        local d=$1; shift
        if "$@" >/dev/null; then ok "$d"; else not_ok "$d"; fi
}
say() { sed 's/^/# /' <<<"$*"; }

# Exits 77 unless this is root in the booted test container: these tests install into the system.
require_test_container() {
        if [[ ! -d /run/systemd/system || $(id -u) -ne 0 ]]; then
                echo "1..0 # SKIP needs root and a booted systemd (run through tests/container/run)"
                exit 77
        fi
        if ! systemd-detect-virt -cq; then
                echo "1..0 # SKIP installs into the system; only inside the test container"
                exit 77
        fi
}

# install_agent BUILD_DIR: meson install, sysusers, tmpfiles, the catalog, systemd and D-Bus reloads.
install_agent() {
        meson install -C "$1" --no-rebuild --quiet >/dev/null || { echo "Bail out! meson install failed"; exit 1; }
        systemd-sysusers >/dev/null 2>&1
        systemd-tmpfiles --create --prefix=/var/lib/runner-agent --prefix=/run/runner-agent >/dev/null 2>&1
        journalctl --update-catalog
        systemctl daemon-reload
        busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
}

# scratch NAME: a fresh $work (0755) and an empty $marks (0777) for NAME, under /srv: a step sees them
# there, while a job's /tmp and /var/tmp are its own. The caller removes both (its EXIT trap).
scratch() {
        work=$(mktemp -d "/srv/$1.XXXXXX") && chmod 0755 "$work" || { echo "Bail out! no scratch directory"; exit 1; }
        marks=/srv/$1-marks
        rm -rf "$marks" && mkdir -m 0777 "$marks"
}

# side_by_side CONF: jobs meant to run side by side do, whatever the number of CPUs (MaxParallelJobs=
# defaults to one a CPU), through agent.conf.d/CONF; then the agent is restarted with it.
side_by_side() {
        mkdir -p /etc/runner-agent/agent.conf.d
        printf '[Agent]\nMaxParallelJobs=infinity\n' >"/etc/runner-agent/agent.conf.d/$1"
        systemctl restart runner-agent || { echo "Bail out! runner-agent did not start"; exit 1; }
}

# wait_for SECONDS COMMAND...: polls (the test, not the agent) until COMMAND succeeds.
wait_for() {
        local end=$((SECONDS + $1)); shift
        until "$@" >/dev/null 2>&1; do
                ((SECONDS < end)) || return 1
                sleep 0.05
        done
}
completed() { runnerctl status --json "$1" | jq -e '.status == "completed"'; }

# Live processes of the steps' user, as "PID ARGS" lines; a zombie waiting for its reaper is dead.
# Each running job's steps run as a user of its own, UIDs 60500 … 60999 (README, "Steps are untrusted").
JOB_UIDS=$(seq -s, 60500 60999)
live_runner_processes() { ps -u "$JOB_UIDS" -o pid=,stat=,args= | awk '$2 !~ /^Z/ { $2 = ""; print }'; }

# The adversarial tree of test-cancel.sh and bench-cancel.sh has grown: each kind of its processes
# runs. The stopped sleep 1004 is left out: a stopped process in an orphaned process group is hung up
# by the kernel at once, so in a step it may be gone already.
adversarial_tree_grown() {
        local p
        for p in 'sleep 1001' 'sleep 1002' 'sleep 1003' '^reexec-1005' 'sleep 1006'; do
                pgrep -u "$JOB_UIDS" -f "$p" >/dev/null || return 1
        done
}

within() { # within VALUE LOW HIGH
        awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }'
}
# ms_between FILE-A FILE-B: ms from the time in A to the time in B (the last line of each: a step
# writes $EPOCHREALTIME, which costs no fork, so the stamp is taken when the trap runs)
ms_between() { awk '{ t[FILENAME] = $1 } END { printf "%d\n", (t[ARGV[2]] - t[ARGV[1]]) * 1000 }' "$1" "$2"; }
# ms_since FILE: ms from the stamp in FILE to now
ms_since() { awk -v now="$EPOCHREALTIME" '{ printf "%d\n", (now - $1) * 1000 }' "$1"; }
