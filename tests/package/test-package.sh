#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The package suite: builds the .deb and the RPM (packaging/build-packages), lints both, compares
# the RPM's files and scriptlets with the .deb's (the RPM cannot be installed here: no Fedora
# archive), then installs the .deb into a clean Debian 12 root (tests/package/debian-root, cached)
# booted by tests/container/run --root, where tests/package/test-inside.sh uses, upgrades, removes
# and purges it. TAP.
#
#   tests/package/test-package.sh SOURCE_DIR
set -uo pipefail

src=$(cd "$1" && pwd)
# shellcheck source=../system/lib.sh
source "$src/tests/system/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
        echo "1..0 # SKIP needs root (debootstrap, systemd-nspawn)"
        exit 77
fi

scratch=$(mktemp -d /var/tmp/runner-agent-package.XXXXXX)
trap '[[ -n ${KEEP_SCRATCH:-} ]] || rm -rf --one-file-system "$scratch"' EXIT
out=$scratch/out
arch=$(dpkg --print-architecture)
old=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
new=$old+1

# --- build
if bash "$src/packaging/build-packages" "$out" 2>"$scratch/build.log"; then
        ok "build-packages: runner-agent $old (.deb and RPM)"
else
        not_ok "build-packages"
        sed 's/^/# /' "$scratch/build.log" | tail -n 40
        echo "Bail out! the packages did not build"
        exit 1
fi
if bash "$src/packaging/build-packages" --deb-only --version "$new" "$out" 2>"$scratch/build.log"; then
        ok "build-packages --version $new (the upgrade)"
else
        not_ok "build-packages --version $new"
        sed 's/^/# /' "$scratch/build.log" | tail -n 40
fi
deb=$out/runner-agent_${old}_$arch.deb
rpmfile=$(ls "$out"/runner-agent-[0-9]*.rpm 2>/dev/null | grep -v debuginfo | head -n 1)

# --- lint
# lintian leaves its ELF index (mldbm-elf-*) in $TMPDIR: ours, removed with the rest.
mkdir "$scratch/tmp"
TMPDIR=$scratch/tmp lintian --pedantic --display-info --fail-on error,warning "$out/runner-agent_${old}_$arch.changes" >"$scratch/lintian" 2>&1
rc=$?
sed 's/^/# lintian: /' "$scratch/lintian"
if [[ $rc -eq 0 ]] && ! grep -q '^[EW]:' "$scratch/lintian"; then ok "lintian: no error, no warning"; else not_ok "lintian (exit $rc)"; fi
rpmlint -c "$src/packaging/rpm/rpmlint.toml" "$rpmfile" >"$scratch/rpmlint" 2>&1
rc=$?
grep -E '^runner-agent|checked' "$scratch/rpmlint" | sed 's/^/# rpmlint: /'
if [[ $rc -eq 0 ]] && grep -q ' 0 errors, 0 warnings' "$scratch/rpmlint"; then ok "rpmlint: no error, no warning"; else not_ok "rpmlint (exit $rc)"; fi

# --- the RPM against the .deb
# Files, without the documentation each distribution lays out its own way and rpm's build-id
# links; /lib is /usr/lib on a merged-/usr system; man pages compressed by both.
deb_files() {
        dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' | grep -v '/$' |
                grep -v -e '^/usr/share/doc/' -e '^/usr/share/lintian/' | sed 's|^/lib/|/usr/lib/|' | sort
}
rpm_files() {
        rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmfile" | grep -v '^d' | cut -d' ' -f2- |
                grep -v -e '^/usr/share/doc/' -e '^/usr/lib/\.build-id' | sed 's|^/lib/|/usr/lib/|' | sort
}
if diff <(deb_files) <(rpm_files) >"$scratch/files.diff"; then
        ok "the RPM holds the .deb's files ($(deb_files | wc -l))"
else
        not_ok "the RPM's files differ from the .deb's"
        sed 's/^/# /' "$scratch/files.diff"
fi
check "the same configuration files (.deb conffiles, RPM %config)" \
        diff <(dpkg-deb -I "$deb" conffiles | sort) <(rpm -qpc "$rpmfile" | sort)

mkdir "$scratch/control"
dpkg-deb -e "$deb" "$scratch/control"
rpm -qp --scripts "$rpmfile" >"$scratch/rpm-scripts"
# One scriptlet of the RPM: the lines after its header, up to the next one.
rpm_script() { awk -v h="$1 scriptlet" 'index($0, h) == 1 { on = 1; next } / scriptlet \(using / { on = 0 } on' "$scratch/rpm-scripts"; }
# Each line of a pattern list found in a file, in that order.
in_order() { # in_order FILE PATTERN...
        local f=$1 line=0 l; shift
        for p in "$@"; do
                l=$(grep -n -E -- "$p" "$f" | cut -d: -f1 | awk -v m="$line" '$1 > m { print; exit }')
                [[ -n $l ]] || return 1
                line=$l
        done
}
rpm_script preinstall >"$scratch/rpm-pre"
rpm_script postinstall >"$scratch/rpm-post"
rpm_script preuninstall >"$scratch/rpm-preun"
rpm_script postuninstall >"$scratch/rpm-postun"
check "install, .deb: users (sysusers), then directories (tmpfiles), then enable and start" \
        in_order "$scratch/control/postinst" 'systemd-sysusers .*runner-agent\.conf' \
        'systemd-tmpfiles .*--create runner-agent\.conf' "deb-systemd-helper enable 'runner-agent.service'" \
        'deb-systemd-invoke \$_dh_action'
check "install, RPM: users in %pre, directories and preset in %post" \
        bash -c "grep -q 'systemd-sysusers --replace=/usr/lib/sysusers.d/runner-agent.conf' '$scratch/rpm-pre' &&
                 grep -qxF -f <(grep -v '^#' '$src/units/runner-agent.sysusers') '$scratch/rpm-pre' &&
                 grep -q 'systemd-tmpfiles --create runner-agent.conf' '$scratch/rpm-post' &&
                 grep -q 'systemctl --no-reload preset runner-agent.service' '$scratch/rpm-post'"
check "upgrade, .deb: restart (not stop and start); prerm stops only on remove" \
        bash -c "grep -q '_dh_action=restart' '$scratch/control/postinst' &&
                 [[ \$(grep -c 'deb-systemd-invoke stop' '$scratch/control/prerm') -eq 1 ]] &&
                 grep -q '\"\$1\" = remove .*/run/systemd/system' '$scratch/control/prerm'"
check "remove/erase stops runner.slice, in both" \
        bash -c "grep -q 'remove.*/run/systemd/system' '$scratch/control/postrm' &&
                 grep -q 'deb-systemd-invoke stop runner.slice' '$scratch/control/postrm' &&
                 grep -q 'systemctl stop runner.slice' '$scratch/rpm-postun'"
check "upgrade, RPM: try-restart in %postun (\$1 >= 1); erase stops in %preun (\$1 = 0)" \
        bash -c "grep -q 'if \[ \$1 -ge 1 \].*systemctl try-restart runner-agent.service' '$scratch/rpm-postun' &&
                 grep -q 'if \[ \$1 -eq 0 \].*disable --now runner-agent.service' '$scratch/rpm-preun' &&
                 ! grep -q 'systemctl .*stop runner-agent' '$scratch/rpm-postun'"
check "both declare the runtime needs: bash, the system bus, systemd, nss-systemd for the job users" \
        bash -c "d=\$(dpkg-deb -f '$deb' Depends); r=\$(rpm -qpR '$rpmfile');
                 [[ \$d == *'bash (>= 5.0)'* && \$d == *dbus-system-bus* && \$d == *'systemd (>= 250)'* &&
                    \$d == *'libnss-systemd (>= 250)'* &&
                    \$r == *'bash >= 5.0'* && \$r == *dbus* && \$r == *'systemd >= 250'* && \$r == *'systemd-libs >= 250'* ]]"

# --- install, use, upgrade, remove and purge in a clean Debian 12
root=$(bash "$src/tests/package/debian-root")
if [[ -z $root ]]; then
        not_ok "a clean Debian 12 root (debootstrap)"
        echo "1..$n"
        exit 1
fi
# A shared lock while the root is in use: debian-root rebuilds (and removes old roots) only under
# an exclusive one.
exec 8<"$(dirname "$(dirname "$root")")/.lock"
flock -s 8
if [[ ! -f $(dirname "$root")/complete ]]; then
        not_ok "a clean Debian 12 root: $root was removed meanwhile"
        echo "1..$n"
        exit 1
fi
ok "a clean Debian 12 root: $root"
"$src/tests/container/run" --root "$root" --bind "$out" --setenv "TAP_START=$n" -- \
        "$src/tests/package/test-inside.sh" "$out" "$old" "$new" >"$scratch/inside" 2>"$scratch/inside.err"
rc=$?
cat "$scratch/inside"
last=$(sed -n 's/^# tap-count //p' "$scratch/inside")
failed=$((failed + $(grep -c '^not ok' "$scratch/inside")))
if [[ -n $last ]]; then
        n=$last
else
        n=$((n + $(grep -c -E '^(not )?ok' "$scratch/inside")))
fi
if [[ $rc -ne 0 || -z $last ]]; then
        not_ok "the container part ran to its end (exit $rc)"
        sed 's/^/# /' "$scratch/inside.err" | tail -n 30
fi
echo "1..$n"
[[ $failed -eq 0 ]]
