#!/usr/bin/env bash
# Creates .venv inside the checkout and installs everything the project needs:
# PyTorch + torchvision (pinned), detectron2, the other dependencies of requirements.txt,
# and this project in editable mode with its compiled ops.
#
# Idempotent: every step records a stamp keyed on its inputs; a second run with unchanged
# inputs only checks the stamps and exits within seconds. Any failing step stops the script
# with a message naming that step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
TORCH_PIN="torch==2.14.1 torchvision==0.29.1"
DETECTRON2_GIT="https://github.com/facebookresearch/detectron2.git"
# Registry fallback when GitHub cannot be reached: a wheel of detectron2's main branch (late
# 2024), published for cp310 only; its Python code runs on 3.11 (its compiled _C does not load,
# and nothing in this project needs it).
DETECTRON2_WHEEL="sal-detectron2==0.7.2"
STAMPS="$VENV/.stamps"

step() { CURRENT_STEP="$1"; echo "==> [setup_env] $1"; }
fail() { echo "!! [setup_env] step failed: ${CURRENT_STEP:-unknown} (exit $1). See the output above." >&2; }
trap 'fail $?' ERR

# A step is skipped when its stamp holds the same key (a hash of the step's inputs).
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

step "virtual environment at $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

step "PyTorch ($TORCH_PIN)"
key="$(echo "$TORCH_PIN" | sha256sum | cut -c1-16)"
if ! stamp_ok torch "$key"; then
  "${PIP[@]}" install $TORCH_PIN
  stamp_set torch "$key"
fi

step "dependencies from requirements.txt"
key="$(hash_of "$ROOT/requirements.txt")"
if ! stamp_ok requirements "$key"; then
  "${PIP[@]}" install -r "$ROOT/requirements.txt" $TORCH_PIN
  stamp_set requirements "$key"
fi

step "packages without their dependencies (requirements-nodeps.txt)"
key="$(hash_of "$ROOT/requirements-nodeps.txt")"
if ! stamp_ok nodeps "$key"; then
  "${PIP[@]}" install --no-deps -r "$ROOT/requirements-nodeps.txt"
  stamp_set nodeps "$key"
fi

step "detectron2"
key="$(echo "$DETECTRON2_GIT $DETECTRON2_WHEEL" | sha256sum | cut -c1-16)"
if ! stamp_ok detectron2 "$key" || ! "$PY" -c "import detectron2" 2>/dev/null; then
  if timeout 15 git ls-remote "$DETECTRON2_GIT" HEAD >/dev/null 2>&1; then
    echo "GitHub is reachable: installing detectron2 from its official Git source."
    "${PIP[@]}" install --no-build-isolation "git+$DETECTRON2_GIT"
  else
    echo "GitHub is not reachable: installing detectron2 from the registry ($DETECTRON2_WHEEL)."
    purelib="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    tmp="$(mktemp -d)"
    "${PIP[@]}" install --no-deps --target "$tmp" --python-version 3.10 \
      --only-binary=:all: "$DETECTRON2_WHEEL"
    rm -rf "$purelib"/detectron2 "$purelib"/sal_detectron2-*.dist-info
    # The cp310 compiled extension can never load on this interpreter; leave it out so that
    # nothing mistakes it for a working one.
    rm -f "$tmp"/detectron2/_C*.so
    cp -r "$tmp"/detectron2 "$tmp"/sal_detectron2-*.dist-info "$purelib"/
    rm -rf "$tmp"
  fi
  "$PY" -c "import detectron2, detectron2.modeling, detectron2.projects.point_rend, detectron2.projects.deeplab"
  stamp_set detectron2 "$key"
fi

step "mask2former (editable, with compiled ops)"
export CUDA_HOME="${CUDA_HOME:-}"
if [[ -z "$CUDA_HOME" ]] && command -v nvcc >/dev/null 2>&1; then
  # /usr/local/bin/nvcc may be a two-line wrapper script that execs the real compiler; PyTorch
  # would guess CUDA_HOME wrongly from it, so find the real one.
  real_nvcc="$(command -v nvcc)"
  if [[ "$(head -c2 "$real_nvcc")" == "#!" ]]; then
    real_nvcc="$(grep -o '/[^ "]*/bin/nvcc' "$real_nvcc" | head -1)"
  fi
  real_nvcc="$(readlink -f "$real_nvcc")"
  CUDA_HOME="$(dirname "$(dirname "$real_nvcc")")"
fi
[[ -n "$CUDA_HOME" ]] || unset CUDA_HOME
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.0;9.0}"
export MAX_JOBS="${MAX_JOBS:-2}"
key="$(cd "$ROOT" && hash_of setup.py $(find ops -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' \) 2>/dev/null | sort))-${CUDA_HOME:-nocuda}"
if ! stamp_ok project "$key" || ! "$PY" -c "import mask2former" 2>/dev/null; then
  "${PIP[@]}" install --no-build-isolation --no-deps -e "$ROOT"
  stamp_set project "$key"
fi

step "check"
"$PY" - <<'EOF'
import torch, detectron2, numpy, cv2
from mask2former import add_maskformer2_config
print(f"torch {torch.__version__}, detectron2 {detectron2.__version__}, numpy {numpy.__version__}, opencv {cv2.__version__}")
EOF
trap - ERR
echo "==> [setup_env] done: $VENV"
