# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/course.sh (not run on its own): prepares the course's
# Python environment and enters the repository root.
#
#   * creates .venv in the repository with Python >= 3.11 if it is missing
#     ($PYTHON if set, else python3.11, else python3);
#   * installs requirements.txt and the package (`pip install -e . --no-deps`) when
#     requirements.txt, pyproject.toml or the package version changed since the last install
#     (a SHA-256 stamp in .venv records it, so later runs skip straight to the work);
#   * installs the optional 'faces' extra (requirements-faces.txt, MediaPipe) the same way,
#     stamped separately; a failure there only warns (see _marlin_install_faces);
#   * puts .venv/bin first on PATH, so `python` is the venv's;
#   * exports MPLBACKEND=Agg (headless plotting; notebook kernels still get the inline
#     backend, see conftest.py and marlin_lite/course.py) and PYTHONHASHSEED=0;
#   * on x86-64 with AVX-512, keeps torch, oneDNN and numpy on their AVX2 kernels
#     (kept when already set): AVX-512 kernels round differently and change the printed digits.
#
# Portable bash (Linux and macOS's bash 3.2): no GNU-only flags. Every step checks its own
# status and `return`s non-zero on failure, so callers should `source ... || exit 1`.

_marlin_die() {
    echo "scripts/_env.sh: error: $*" >&2
    return 1
}

# Is "$1" a Python >= 3.11? (exit status)
_marlin_python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

_marlin_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 | cut -d ' ' -f 1
    else
        _marlin_die "neither sha256sum nor shasum is available to fingerprint requirements.txt"
    fi
}

# The optional 'faces' extra (requirements-faces.txt: MediaPipe FaceMesh for real faces).
# Installed with --no-deps (see that file), stamped like the main install, and NEVER fatal:
# if it cannot be installed (no wheel for this Python or platform, no network), a warning
# says so, the failure is remembered (so later runs do not retry until the file changes or
# the marker is removed), and everything else works; the tests that need it are skipped.
# Set MARLIN_LITE_FACES=0 to leave it out.
_marlin_install_faces() {
    local venv="$1" fingerprint stamp failed
    [ -f requirements-faces.txt ] || return 0
    if [ "${MARLIN_LITE_FACES:-1}" = "0" ]; then
        return 0
    fi
    fingerprint="$(cat requirements-faces.txt | _marlin_sha256)" || return 0
    stamp="$venv/.marlin-lite-faces.sha256"
    failed="$venv/.marlin-lite-faces.failed"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]; then
        return 0
    fi
    if [ -f "$failed" ] && [ "$(cat "$failed")" = "$fingerprint" ]; then
        echo "scripts/_env.sh: warning: the optional 'faces' extra (MediaPipe) is not installed: it failed before; real-face features and their tests are skipped (rm $failed to retry)" >&2
        return 0
    fi
    echo "scripts/_env.sh: installing the optional 'faces' extra (requirements-faces.txt) into .venv" >&2
    rm -f "$stamp"
    if "$venv/bin/python" -m pip install --no-deps -r requirements-faces.txt \
        && "$venv/bin/python" -c 'from mediapipe.python.solutions import face_mesh' >/dev/null 2>&1; then
        rm -f "$failed"
        printf '%s\n' "$fingerprint" >"$stamp"
    else
        printf '%s\n' "$fingerprint" >"$failed"
        echo "scripts/_env.sh: warning: could not install the optional 'faces' extra (mediapipe==0.10.21 has wheels for Python 3.9-3.12 only). The course works without it; real-face detection (marlin_lite.faces, marlin_lite.preprocess) and its tests are skipped. Retry: rm $failed, then source scripts/_env.sh again." >&2
    fi
    return 0
}

_marlin_setup() {
    local root venv python_for_venv candidate stamp fingerprint
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    cd "$root" || _marlin_die "cannot enter the repository root $root" || return 1
    venv="$root/.venv"

    if [ ! -x "$venv/bin/python" ]; then
        python_for_venv=""
        if [ -n "${PYTHON:-}" ]; then
            # An explicit choice is honoured or refused, never silently replaced.
            command -v "$PYTHON" >/dev/null 2>&1 \
                || _marlin_die "PYTHON=$PYTHON is not an executable on PATH" || return 1
            _marlin_python_ok "$PYTHON" \
                || _marlin_die "PYTHON=$PYTHON is $("$PYTHON" -V 2>&1); the course needs Python >= 3.11" \
                || return 1
            python_for_venv="$PYTHON"
        else
            for candidate in python3.11 python3; do
                if command -v "$candidate" >/dev/null 2>&1 && _marlin_python_ok "$candidate"; then
                    python_for_venv="$candidate"
                    break
                fi
            done
        fi
        if [ -z "$python_for_venv" ]; then
            _marlin_die "no Python >= 3.11 found (tried python3.11 and python3: $(python3 -V 2>&1 || echo 'python3 missing')). Install Python 3.11 or set PYTHON=/path/to/python3.11."
            return 1
        fi
        echo "scripts/_env.sh: creating .venv with $python_for_venv ($("$python_for_venv" -V 2>&1))" >&2
        "$python_for_venv" -m venv "$venv" \
            || _marlin_die "'$python_for_venv -m venv .venv' failed (on Debian/Ubuntu: apt install python3.11-venv); remove .venv and retry" \
            || return 1
    fi
    _marlin_python_ok "$venv/bin/python" \
        || _marlin_die ".venv has $("$venv/bin/python" -V 2>&1); the course needs Python >= 3.11. Remove .venv and rerun." \
        || return 1

    # What the install depends on: the pins, the package metadata and the package version.
    fingerprint="$(cat requirements.txt pyproject.toml && { grep '^__version__' marlin_lite/__init__.py || true; })" \
        || _marlin_die "cannot read requirements.txt and pyproject.toml" || return 1
    fingerprint="$(printf '%s\n' "$fingerprint" | _marlin_sha256)" || return 1
    stamp="$venv/.marlin-lite-install.sha256"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$fingerprint" ]; then
        echo "scripts/_env.sh: installing requirements.txt and the package into .venv" >&2
        rm -f "$stamp"
        "$venv/bin/python" -m pip install --upgrade pip || _marlin_die "upgrading pip failed" || return 1
        "$venv/bin/python" -m pip install -r requirements.txt \
            || _marlin_die "'pip install -r requirements.txt' failed" || return 1
        "$venv/bin/python" -m pip install -e . --no-deps \
            || _marlin_die "'pip install -e . --no-deps' failed" || return 1
        printf '%s\n' "$fingerprint" >"$stamp"
    fi

    _marlin_install_faces "$venv"

    export VIRTUAL_ENV="$venv"
    export PATH="$venv/bin:$PATH"
    unset PYTHONHOME
    hash -r 2>/dev/null
    export MPLBACKEND=Agg
    export PYTHONHASHSEED=0
    # x86-64 with AVX-512: the kernels an AVX2 machine runs (unless set already), so the digits match
    # the committed outputs; the same list as marlin_lite.utils.REPRODUCIBLE_CPU_ENV (a test checks)
    case "$(uname -m)" in
        x86_64|amd64|AMD64)
            if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
                export ATEN_CPU_CAPABILITY="${ATEN_CPU_CAPABILITY:-avx2}"
                export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"
                export NPY_DISABLE_CPU_FEATURES="${NPY_DISABLE_CPU_FEATURES:-X86_V4 AVX512_ICL AVX512_SPR}"
            fi
            ;;
    esac
    return 0
}

_marlin_setup
