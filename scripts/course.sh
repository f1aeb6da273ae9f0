#!/usr/bin/env bash
# The course's main job: execute every lesson (or the ones named) into build/course, extract
# their figures to build/course/figures/<lesson>/, print a summary; exits 1 if any lesson failed.
#
#   bash scripts/course.sh                 # all lessons
#   bash scripts/course.sh 00 03           # lessons by number, stem or path
#   bash scripts/course.sh --out /tmp/c    # somewhere else
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" || exit 1

exec python -m marlin_lite.course run --out build/course "$@"
