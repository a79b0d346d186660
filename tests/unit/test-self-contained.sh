#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The repository explains itself: no code, unit, test or packaging file cites a design document that
# is not in it (comments cite the README's sections). TAP.
#
#   test-self-contained.sh SOURCE_ROOT
set -uo pipefail

cd "$1" || exit 1
hits=$(grep -rnE 'DESIGN(\.md| ?§)' agent units policy packaging tests meson.build .ci 2>/dev/null |
        grep -v '^tests/unit/test-self-contained.sh:')
echo "1..1"
if [[ -z $hits ]]; then
        echo "ok 1 - no file cites a document outside the repository"
else
        sed 's/^/# /' <<<"$hits"
        echo "not ok 1 - files cite a document outside the repository"
fi
[[ -z $hits ]]
