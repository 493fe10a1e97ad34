#!/usr/bin/env bash
# Set up sr-d2 in ./.venv: torch, detectron2, sr-d2 (editable) and the test tools.
# Idempotent: each step checks what is installed and skips when it is already right.
#
#   SR_D2_DETECTRON2=auto|github|pypi|PATH  where detectron2 comes from. auto (default): GitHub when
#                                       reachable, else the PyPI sdist of v0.6 without C++ ops;
#                                       github: its source at the pinned commit D2_COMMIT below;
#                                       PATH: a detectron2 source folder or .tar.gz (e.g. the
#                                       vendored main, ../shared/vendor/detectron2-main-*.tar.gz)
#   SR_D2_DETECTRON2_EXT=1|0            build detectron2's C++ extension from a GitHub or PATH
#                                       source (default 1; sr-d2 needs no compiled op)
#   SR_D2_VENV=.venv                    where the virtual environment goes
#   SR_D2_EXTRAS=test                   sr-d2's extras to install (test,deploy adds ONNX export)
#   PYTHON=python3.11                   interpreter for the virtual environment
set -euo pipefail
cd "$(dirname "$0")"

STEP="start"
trap 'echo "setup.sh: FAILED at step: $STEP" >&2' ERR
step() { STEP="$1"; echo "==> $1"; }

VENV="${SR_D2_VENV:-.venv}"
PY="$VENV/bin/python"
CONSTRAINTS=.ci/constraints-d2-v0.6.txt
D2_SOURCE="${SR_D2_DETECTRON2:-auto}"
D2_EXT="${SR_D2_DETECTRON2_EXT:-1}"
D2_GIT=https://github.com/facebookresearch/detectron2.git
D2_COMMIT=02b5c4e295e990042a714712c21dc79b731e8833  # main, 2026-06-06 (the vendored tarball's)
# Silence pip's notes about this machine's configured local indexes.
pip_() { "$PY" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

step "virtual environment $VENV"
if [ ! -x "$PY" ]; then
  "${PYTHON:-$(command -v python3.11 || command -v python3)}" -m venv "$VENV"
fi

# Pins that hold on both detectron2 paths: torch (never let pip pick another) and setuptools.
COMMON_PINS="$VENV/constraints-common.txt"
grep -E '^(torch|torchvision|setuptools)[=<>]' "$CONSTRAINTS" > "$COMMON_PINS"

installed_d2_source() { cat "$VENV/.detectron2-source" 2>/dev/null || true; }
if [ "$D2_SOURCE" = auto ]; then
  if [ -n "$(installed_d2_source)" ]; then
    D2_SOURCE=$(installed_d2_source)
  elif timeout 20 git ls-remote --exit-code "$D2_GIT" HEAD >/dev/null 2>&1; then
    D2_SOURCE=github
  else
    D2_SOURCE=pypi
  fi
fi
case "$D2_SOURCE" in
  pypi | github | "github ext="* | path:*) ;;
  *)
    if [ ! -e "$D2_SOURCE" ]; then
      STEP="SR_D2_DETECTRON2=$D2_SOURCE"
      echo "SR_D2_DETECTRON2 must be auto, github, pypi or a detectron2 source folder or tarball;" \
           "$D2_SOURCE does not exist" >&2
      exit 2
    fi
    D2_SOURCE="path:$(cd "$(dirname "$D2_SOURCE")" && pwd)/$(basename "$D2_SOURCE")" ;;
esac
case "$D2_EXT" in 0|1) ;; *) echo "SR_D2_DETECTRON2_EXT must be 0 or 1" >&2; exit 2 ;; esac
case "$D2_SOURCE" in pypi | *" ext="[01]) ;; *) D2_SOURCE="$D2_SOURCE ext=$D2_EXT" ;; esac
if [ "$D2_SOURCE" = pypi ]; then PINS="$CONSTRAINTS"; else PINS="$COMMON_PINS"; fi

step "torch 2.14.1 + torchvision 0.29.1"
if ! "$PY" -c 'import torch, torchvision; assert torch.__version__.split("+")[0] == "2.14.1"' 2>/dev/null; then
  pip_ install -q -c "$PINS" torch==2.14.1 torchvision==0.29.1
fi

step "detectron2 ($D2_SOURCE)"
if [ "$(installed_d2_source)" != "$D2_SOURCE" ] || ! "$PY" -c 'import detectron2.modeling' 2>/dev/null; then
  if [ "$D2_SOURCE" != pypi ]; then
    src=$(mktemp -d)
    case "$D2_SOURCE" in
      github*)
        echo "detectron2: from its GitHub source at $D2_COMMIT"
        git clone -q "$D2_GIT" "$src/detectron2" && git -C "$src/detectron2" checkout -q "$D2_COMMIT" ;;
      *)
        path="${D2_SOURCE#path:}"; path="${path% ext=*}"
        echo "detectron2: from the local source $path"
        if [ -d "$path" ]; then
          cp -r "$path" "$src/detectron2"
        else  # a tarball with setup.py at its top or in its one folder
          mkdir "$src/x" && tar -xzf "$path" -C "$src/x"
          if [ -f "$src/x/setup.py" ]; then mv "$src/x" "$src/detectron2"; else mv "$src"/x/*/ "$src/detectron2"; fi
        fi
        test -f "$src/detectron2/setup.py" ;;
    esac
    if [ "${D2_SOURCE##* ext=}" = 0 ]; then
      echo "detectron2: without its C++ extension (SR_D2_DETECTRON2_EXT=0)"
      sed -i 's/ext_modules=get_extensions(),/ext_modules=[],/' "$src/detectron2/setup.py"
      grep -q 'ext_modules=\[\],' "$src/detectron2/setup.py"
    fi
    pip_ install -q -c "$PINS" --no-build-isolation "$src/detectron2"
    rm -rf "$src"
  else
    echo "detectron2: GitHub unreachable; installing the PyPI sdist pb1-detectron2==0.6 (detectron2"
    echo "            v0.6's Python code) without its C++ extension, under $CONSTRAINTS"
    src=$(mktemp -d)
    pip_ install -q -c "$PINS" 'pip>=23,<24' wheel
    pip_ download -q --no-deps --no-binary :all: --no-build-isolation -d "$src" pb1-detectron2==0.6
    tar -xzf "$src"/pb1-detectron2-0.6.tar.gz -C "$src"
    d2="$src/pb1-detectron2-0.6"
    # Package the model-zoo configs (setup.py takes them from configs/), install under the name
    # detectron2 (so that sr-d2's dependency is met), and build no extension: a stub _C fails
    # clearly if a compiled op (deformable conv, rotated boxes) is ever called.
    cp -r "$d2/detectron2/model_zoo/configs" "$d2/configs"
    sed -i 's/name="pb1-detectron2"/name="detectron2"/; s/ext_modules=get_extensions(),/ext_modules=[],/' "$d2/setup.py"
    grep -q 'name="detectron2"' "$d2/setup.py" && grep -q 'ext_modules=\[\],' "$d2/setup.py"
    cat > "$d2/detectron2/_C.py" <<'EOF'
"""Stand-in for detectron2's C++ extension, which sr-d2's setup.sh fallback does not build."""


def get_compiler_version():
    return "none (detectron2 installed without its C++ extension)"


def get_cuda_version():
    return "none"


def has_cuda():
    return False


def __getattr__(name):
    raise ImportError(
        f"detectron2._C.{name}: this detectron2 was installed without its C++ extension "
        "(sr-d2's PyPI fallback); install detectron2 from its GitHub source for compiled ops"
    )
EOF
    pip_ install -q -c "$PINS" --no-build-isolation "$d2"
    rm -rf "$src"
  fi
  echo "$D2_SOURCE" > "$VENV/.detectron2-source"
else
  echo "detectron2: already installed ($D2_SOURCE)"
fi

step "panopticapi (for COCOPanopticEvaluator)"
if ! "$PY" -c 'import panopticapi' 2>/dev/null; then
  # panopticapi-lite declares pillow>=10.4 and numpy<2, which clash with v0.6's pins; its code
  # runs with them, so it is installed without its declared dependencies.
  pip_ install -q --no-deps panopticapi-lite
fi

step "sr-d2 (editable) and test tools"
stamp="$VENV/.sr-d2-stamp"
EXTRAS="${SR_D2_EXTRAS:-test}"
want=$( (cat pyproject.toml "$PINS"; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip_ install -q -c "$PINS" --no-build-isolation -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi

step "check"
"$PY" - <<'EOF'
import detectron2, numpy, torch
import sr_d2, sr_ocr, sr_panoptic_deeplab  # the projects install beside sr_d2
from detectron2 import model_zoo
model_zoo.get_config("common/models/panoptic_fpn.py")
print(f"ok: torch {torch.__version__}, detectron2 {detectron2.__version__}, numpy {numpy.__version__}, "
      f"sr_d2 {sr_d2.__version__}")
EOF
echo "setup.sh: done (detectron2 from $D2_SOURCE). Tests: $PY -m pytest"
