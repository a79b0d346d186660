/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "run-checkout.h"

/* GitHub's actions/checkout fetches the commit into refs/remotes/origin/<branch> and checks out the
 * branch, or checks out the commit detached for a tag or a bare commit; origin is the repository's
 * URL on the server. Here the fetch is from the snapshot through a bare repository in the job's
 * private RUNNER_TEMP, over file:// so that --depth applies. */
const char run_checkout_script[] =
        "# actions/checkout, built into runner-agent: the run's source is on standard input.\n"
        "dest=$GITHUB_WORKSPACE${INPUT_PATH:+/$INPUT_PATH}\n"
        "if [ \"$RUNNER_SOURCE_FORMAT\" = none ]; then\n"
        "        echo '::error::The run has no source to check out (it was submitted with --no-source)'\n"
        "        exit 1\n"
        "fi\n"
        "mkdir -p -- \"$dest\"\n"
        "if [ \"$INPUT_CLEAN\" = true ]; then\n"
        "        find \"$dest\" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +\n"
        "fi\n"
        "if [ \"$RUNNER_SOURCE_FORMAT\" = tar ]; then\n"
        "        tar -x --no-same-owner -f - -C \"$dest\"\n"
        "        echo \"Checked out the run's source directory into $dest\"\n"
        "        exit 0\n"
        "fi\n"
        "command -v git >/dev/null || { echo '::error::actions/checkout needs git on the runner'; exit 1; }\n"
        "bundle=$RUNNER_TEMP/checkout-$$.bundle bare=$RUNNER_TEMP/checkout-$$.git\n"
        "trap 'rm -rf -- \"$bundle\" \"$bare\"' EXIT\n"
        "cat >\"$bundle\"\n"
        "git init -q --bare -- \"$bare\"\n"
        "git -C \"$bare\" fetch -q --no-write-fetch-head \"$bundle\" '+refs/*:refs/*' '+HEAD:refs/runner/head'\n"
        "cd -- \"$dest\"\n"
        "[ -d .git ] || git init -q .\n"
        "git remote remove origin 2>/dev/null || true\n"
        "git remote add origin \"file://$bare\"\n"
        "target=refs/runner/head\n"
        "[ \"$GITHUB_REF_TYPE\" = branch ] && target=refs/remotes/origin/$GITHUB_REF_NAME\n"
        "if [ \"$INPUT_FETCH_DEPTH\" = 0 ]; then\n"
        "        heads=\"+refs/runner/head:$target\"\n"
        "        [ \"$GITHUB_REF_TYPE\" = branch ] && heads=+$GITHUB_REF:$target\n"
        "        git fetch -q --prune --tags origin '+refs/heads/*:refs/remotes/origin/*' \"$heads\"\n"
        "else\n"
        "        git fetch -q --no-tags --depth=\"$INPUT_FETCH_DEPTH\" origin \"+refs/runner/head:$target\"\n"
        "        if [ \"$GITHUB_REF_TYPE\" = tag ]; then\n"
        "                git fetch -q --no-tags --depth=\"$INPUT_FETCH_DEPTH\" origin \"+$GITHUB_REF:$GITHUB_REF\"\n"
        "        fi\n"
        "fi\n"
        "if [ \"$GITHUB_REF_TYPE\" = branch ]; then\n"
        "        git checkout -q --force -B \"$GITHUB_REF_NAME\" \"$target\"\n"
        "else\n"
        "        git -c advice.detachedHead=false checkout -q --force --detach \"$target\"\n"
        "        git update-ref -d refs/runner/head\n"
        "fi\n"
        "if [ -n \"${GITHUB_REPOSITORY:-}\" ]; then\n"
        "        git remote set-url origin \"$GITHUB_SERVER_URL/$GITHUB_REPOSITORY\"\n"
        "else\n"
        "        git remote remove origin\n"
        "fi\n"
        "echo \"Checked out $(git rev-parse HEAD) into $dest\"\n";

int run_checkout_check(const char *path, const char *clean, const char *fetch_depth, const char **ret_why) {
        size_t len = strlen(fetch_depth);

        if (path[0] == '/') {
                *ret_why = "'path' must be relative to the workspace";
                return -EINVAL;
        }
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");

                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        *ret_why = "'path' must stay inside the workspace (no '..')";
                        return -EINVAL;
                }
                p += n + (p[n] == '/');
        }
        if (strcmp(clean, "true") != 0 && strcmp(clean, "false") != 0) {
                *ret_why = "'clean' must be true or false";
                return -EINVAL;
        }
        if (len == 0 || len > 9 || strspn(fetch_depth, "0123456789") != len) {
                *ret_why = "'fetch-depth' must be a number of commits (0: all)";
                return -EINVAL;
        }
        return 0;
}
