#!/usr/bin/env bash
# Install Horovod 0.28.1 (its last release) as an optional, CPU-only (Gloo)
# distributed backend for this project.
#
# Usage:   bash scripts/install_horovod.sh
#          PYTHON=/path/to/python bash scripts/install_horovod.sh
#
# Why a script: horovod 0.28.1 does not build against recent torch (>= 2.1,
# tested with 2.13) as published, because its CMake files pin C++14 / C++11
# while torch's headers require C++17.  We download the sdist, bump the C++
# standard to 17 in three places and build it from source with PyTorch + Gloo
# only (no MPI, TensorFlow or MXNet).
#
# System requirements (already present on the dev machines; on a bare Debian
# image: `apt-get install -y cmake g++ make`):
#   * cmake >= 3.13 (tested 3.25), g++ with C++17 support (tested 12.2), make
#   * network access to PyPI (sdist + runtime deps: cloudpickle, psutil,
#     pyyaml, packaging)
# The build takes a few minutes; it is idempotent (exits early when an
# existing install already has horovod.torch with Gloo).
#
# Environment knobs:
#   PYTHON                interpreter to install into (default: python3)
#   HOROVOD_VERSION       default 0.28.1 (the patches are written for it)
#   HVD_FORCE=1           rebuild even when horovod.torch already imports
#   HVD_PIP_VERBOSE=1     pass -v to pip (shows the CMake/compiler output)
#   MAKEFLAGS             default -j$(nproc) (horovod's own default is -j8)
set -euo pipefail

PYTHON="${PYTHON:-python3}"
HOROVOD_VERSION="${HOROVOD_VERSION:-0.28.1}"

log() { echo "[install_horovod] $*"; }
die() { echo "[install_horovod] ERROR: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "interpreter '$PYTHON' not found"
PY_EXE="$("$PYTHON" -c 'import sys; print(sys.executable)')"
# Console scripts (horovodrun) land next to the interpreter; with pyenv the
# shim for a new script only appears after `pyenv rehash`, so call it by path.
PY_SCRIPTS="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
HOROVODRUN="$PY_SCRIPTS/horovodrun"

# Gloo-enabled horovod.torch already importable?  Then there is nothing to do.
check_installed() {
    "$PYTHON" - <<'EOF' 2>/dev/null
import horovod, horovod.torch as hvd
assert hvd.gloo_built(), "horovod.torch built without gloo"
print(f"horovod {horovod.__version__} (torch extension, gloo_built={hvd.gloo_built()}, "
      f"mpi_built={hvd.mpi_built()})")
EOF
}

if [[ "${HVD_FORCE:-0}" != "1" ]] && status="$(check_installed)"; then
    log "already installed: $status -- nothing to do (HVD_FORCE=1 to rebuild)"
    exit 0
fi

log "python: $PY_EXE"
"$PYTHON" -c 'import torch; print("[install_horovod] torch", torch.__version__)' \
    || die "torch must be installed in $PY_EXE first"
command -v cmake >/dev/null 2>&1 || die "cmake not found (apt-get install -y cmake)"
command -v g++ >/dev/null 2>&1 || die "g++ not found (apt-get install -y g++)"
command -v make >/dev/null 2>&1 || die "make not found (apt-get install -y make)"

WORK="$(mktemp -d -t horovod-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
log "work dir: $WORK"

# --- 1. fetch and unpack the sdist -------------------------------------------
"$PYTHON" -m pip download --no-binary :all: --no-deps --quiet \
    -d "$WORK" "horovod==${HOROVOD_VERSION}"
SDIST="$WORK/horovod-${HOROVOD_VERSION}.tar.gz"
[[ -f "$SDIST" ]] || die "expected sdist $SDIST not downloaded"
tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/horovod-${HOROVOD_VERSION}"
[[ -d "$SRC" ]] || die "unpacked source dir $SRC missing"

# --- 2. patch the C++ standard -----------------------------------------------
# patch FILE OLD_REGEX SED_EXPR NEW_REGEX
#   fail loudly if OLD_REGEX is absent (sdist changed -> revisit the patch) or
#   if NEW_REGEX is absent after the edit.
patch_file() {
    local file="$SRC/$1" old="$2" expr="$3" new="$4"
    [[ -f "$file" ]] || die "patch target $1 not found in sdist"
    grep -Eq -e "$old" "$file" \
        || die "pattern '$old' not found in $1 -- sdist changed, revisit this patch"
    sed -E -i "$expr" "$file"
    grep -Eq -e "$new" "$file" || die "patch of $1 did not apply ('$new' missing)"
    if grep -Eq -e "$old" "$file"; then die "patch of $1 left '$old' behind"; fi
    log "patched $1: $(grep -En -e "$new" "$file" | head -1)"
}

# Top-level project sets C++14 for every target, incl. the common horovod
# sources that include torch headers -> torch (>= 2.1) needs C++17.
patch_file CMakeLists.txt \
    '^set\(CMAKE_CXX_STANDARD 14\)' \
    's/^set\(CMAKE_CXX_STANDARD 14\)/set(CMAKE_CXX_STANDARD 17)/' \
    '^set\(CMAKE_CXX_STANDARD 17\)'
# The torch extension re-pins C++14 for torch >= 1.5; torch's own headers
# (c10, ATen) use C++17 features (std::optional, if constexpr, ...).
patch_file horovod/torch/CMakeLists.txt \
    '^[[:space:]]*set\(CMAKE_CXX_STANDARD 14\)' \
    's/^([[:space:]]*)set\(CMAKE_CXX_STANDARD 14\)/\1set(CMAKE_CXX_STANDARD 17)/' \
    '^[[:space:]]*set\(CMAKE_CXX_STANDARD 17\)'
# Bundled gloo appends a raw -std=c++11 to CMAKE_CXX_FLAGS, which would
# override the standard above for gloo and the horovod objects built with it.
patch_file third_party/gloo/CMakeLists.txt \
    '-std=c\+\+11 -fPIC' \
    's/-std=c\+\+11 -fPIC/-std=c++17 -fPIC/' \
    '-std=c\+\+17 -fPIC'

# --- 3. build + install ------------------------------------------------------
export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1
export HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1
export HOROVOD_CPU_OPERATIONS="${HOROVOD_CPU_OPERATIONS:-GLOO}"
export MAKEFLAGS="${MAKEFLAGS:--j$(nproc 2>/dev/null || echo 2)}"
log "building horovod ${HOROVOD_VERSION} (PyTorch + Gloo, MAKEFLAGS=$MAKEFLAGS); takes minutes..."
PIP_V=()
[[ "${HVD_PIP_VERBOSE:-0}" == "1" ]] && PIP_V=(-v)
# --no-build-isolation: the build must see the installed torch (CMake queries
# it for include dirs / ABI); --no-cache-dir: never reuse an unpatched wheel.
"$PYTHON" -m pip install --no-build-isolation --no-cache-dir "${PIP_V[@]}" "$SRC"

# --- 4. verify ---------------------------------------------------------------
status="$(check_installed)" || die "horovod installed but 'import horovod.torch' (with gloo) fails"
log "import OK: $status"
[[ -x "$HOROVODRUN" ]] || HOROVODRUN="$(command -v horovodrun || true)"
[[ -n "$HOROVODRUN" && -x "$HOROVODRUN" ]] || die "horovodrun script not found"
log "$HOROVODRUN --check-build:"
check_out="$("$HOROVODRUN" --check-build)"
echo "$check_out"
grep -Eq '\[X\] PyTorch' <<<"$check_out" || die "--check-build does not list PyTorch"
grep -Eq '\[X\] Gloo' <<<"$check_out" || die "--check-build does not list Gloo"
log "done. Smoke test: $HOROVODRUN -np 2 -H localhost:2 --gloo $PY_EXE devtools/hvd_smoke.py"
