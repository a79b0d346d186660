#!/usr/bin/env bash
# Installs every build and test dependency of runner-agent on Debian 12.
# Idempotent: packages already present are left alone and apt is not asked.
set -euo pipefail

packages=(
        # build
        meson ninja-build gcc clang pkg-config
        libsystemd-dev libseccomp-dev libyaml-dev libjson-c-dev
        # unit tests, sanitizers, fuzzing, formatting
        libcmocka-dev libclang-rt-14-dev clang-format
        # system tests: a booted systemd container over an overlay of /
        systemd systemd-container dbus util-linux procps iproute2 jq passwd
        # the action store: git daemon, git fetch and archive (test-action-store)
        git
        # the job users (runner-<N>) are userdb records that nss-systemd resolves
        libnss-systemd
        # vm suite: a throwaway virtual machine (tests/vm/run)
        qemu-system-x86 qemu-utils e2fsprogs
        # package suite
        dpkg-dev debhelper rpm rpmlint lintian debootstrap scdoc man-db
)

if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps.sh: must run as root (it calls apt-get)" >&2
        exit 1
fi

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
        exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
