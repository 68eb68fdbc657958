#!/usr/bin/env bash
# Build (once) and install mmcv 2.1.0 with its compiled ops into a virtual environment.
#
# mmcv 2.1.0 ships on PyPI only as a source distribution, and its setup.py compiles with
# -std=c++17 while torch >= 2.10's headers require C++20. This script downloads the sdist,
# switches the C++ standard to C++20, builds a wheel with `--no-build-isolation` against the
# venv's torch and caches it under $MTBENCH_WHEELS (default ~/.cache/mtbench/wheels/torch-X.Y.Z),
# so only the first run on a machine pays the compile (about 15 minutes on 2 cores).
#
# Usage: scripts/build_mmcv.sh [PYTHON]   (default: .venv/bin/python)
# Env:   MAX_JOBS (default: number of CPUs), MTBENCH_WHEELS (wheel cache), MMCV_VERSION (2.1.0)
set -euo pipefail

PY=${1:-.venv/bin/python}
VERSION=${MMCV_VERSION:-2.1.0}
VENV_BIN=$(cd "$(dirname "$PY")" && pwd)
export PATH="$VENV_BIN:$PATH"   # the venv's ninja, found by torch.utils.cpp_extension

TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEELS=${MTBENCH_WHEELS:-$HOME/.cache/mtbench/wheels/torch-$TORCH_VERSION}
mkdir -p "$WHEELS"

if "$PY" - "$VERSION" <<'EOF' 2>/dev/null; then
import sys
import mmcv, mmcv.ops  # noqa: F401  (mmcv.ops loads the compiled mmcv._ext)
sys.exit(0 if mmcv.__version__ == sys.argv[1] else 1)
EOF
    echo "build_mmcv: mmcv $VERSION with ops already installed"
    exit 0
fi

WHEEL=$(ls "$WHEELS"/mmcv-"$VERSION"-"$PYTAG"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$WHEEL" ]; then
    echo "build_mmcv: compiling mmcv $VERSION for torch $TORCH_VERSION ($PYTAG); this takes a while"
    # setup.py imports pkg_resources (gone from setuptools >= 81); ninja runs the compile in parallel
    "$PY" -m pip install -q "setuptools<81" wheel ninja
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$VERSION" -d "$WORK"
    tar -xzf "$WORK/mmcv-$VERSION.tar.gz" -C "$WORK"
    SRC="$WORK/mmcv-$VERSION"
    # torch >= 2.10 headers need C++20 (ATen.h: "C++20 or later compatible compiler is required")
    sed -i "s/'-std=c++17'/'-std=c++20'/g; s#'/std:c++17'#'/std:c++20'#g" "$SRC/setup.py"
    grep -q "'-std=c++20'" "$SRC/setup.py" || { echo "build_mmcv: C++ standard patch did not apply" >&2; exit 1; }
    # Parsing torch's headers dominates the compile (about 40 s of CPU per source file). 63 of the 77
    # sources include pytorch_cpp_helper.hpp first, so precompile it once with the flags that
    # torch.utils.cpp_extension uses (Python's CFLAGS + CCSHARED, C++20, the extension macros).
    # gcc skips a .gch that does not match the flags, so this only ever affects speed.
    HDR="$SRC/mmcv/ops/csrc/common/pytorch_cpp_helper.hpp"
    PCH_FLAGS=$("$PY" -c '
import os, sys, sysconfig
from torch.utils.cpp_extension import include_paths
flags = [sysconfig.get_config_var("CFLAGS") or "", sysconfig.get_config_var("CCSHARED") or ""]
incs = include_paths() + [os.path.join(sys.prefix, "include"), sysconfig.get_paths()["include"]]
print(" ".join(flags + ["-I" + i for i in incs]
               + ["-std=c++20", "-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_ext"]))')
    # shellcheck disable=SC2086
    pch_start=$(date +%s)
    ${CXX:-c++} $PCH_FLAGS -x c++-header "$HDR" -o "$HDR.gch" \
        || { echo "build_mmcv: no precompiled header (the build will be slower)"; rm -f "$HDR.gch"; }
    echo "build_mmcv: precompiled header in $(( $(date +%s) - pch_start )) s"
    start=$(date +%s)
    MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$SRC"
    cp "$WORK"/dist/mmcv-"$VERSION"-*.whl "$WHEELS"/
    WHEEL=$(ls "$WHEELS"/mmcv-"$VERSION"-"$PYTAG"-*.whl | head -n 1)
    echo "build_mmcv: built $(basename "$WHEEL") in $(( $(date +%s) - start )) s, cached in $WHEELS"
fi
"$PY" -m pip install -q "$WHEEL" "mmengine==0.10.7"
"$PY" -c 'import mmcv, mmcv.ops; print("build_mmcv: mmcv", mmcv.__version__, "with ops installed")'
