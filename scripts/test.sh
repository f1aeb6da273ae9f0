#!/usr/bin/env bash
# The course's test command (README):   bash scripts/test.sh [extra pytest args]
#
# Runs the unit tests and validates every lesson notebook with nbval against its committed
# outputs, in the repository's .venv (created/updated by scripts/_env.sh):
#
#   bash scripts/test.sh                               # everything: notebooks/ and tests/
#   bash scripts/test.sh notebooks/00_x.ipynb          # one lesson (paths replace the defaults)
#   bash scripts/test.sh tests/test_course.py -k student -x
#
# When the extra arguments name existing files or folders (optionally with ::node ids), only
# those are collected; otherwise `notebooks tests` are. pytest's exit status is returned as is
# (5 = no tests collected is a failure, not a success).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" || exit 1

targets=(notebooks tests)
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [ -e "${arg%%::*}" ]; then targets=(); break; fi ;;
    esac
done

# Lesson explorers (marlin_lite.course.interact) call their function over every control's values
# first, so a broken one fails its cell instead of printing a traceback inside the widget.
export MARLIN_LITE_CHECK_WIDGETS=1

exec python -m pytest \
    --nbval \
    --nbval-current-env \
    --nbval-sanitize-with tests/nbval_sanitize.cfg \
    -p no:cacheprovider \
    ${targets[@]+"${targets[@]}"} "$@"
