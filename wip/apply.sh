#!/bin/sh
# Apply the parked one-path switch on a clean checkout of main (run from the repository root).
# The diff was made with `git diff --binary -D`: its deletions carry no content, so git apply
# cannot check them; the deleted files are removed here first and left out of the apply.
set -eu
diff=wip/one-path-to-codex-layout.diff
deleted=$(awk '/^diff --git/ { f = $3; sub("^a/", "", f) } /^deleted file mode/ { print f }' "$diff")
git rm -q $deleted
excludes=$(for f in $deleted; do printf -- '--exclude=%s ' "$f"; done)
git apply -3 $excludes "$diff"
git rm -rqf wip
echo "applied; review with git status, then commit"
