#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): on a machine with CUDA, one fold of each model family on the GPU,
# CPU-vs-CUDA agreement of the forward pass, a reduced grid with fractional GPUs per trial, utterances per
# second and the projected full study. At most 8 minutes of the GPU (GPU_CHECK_TIMEOUT, seconds); exits
# non-zero on any failure.
#
#   bash benchmarks/gpu_check.sh [--dry-run] [--wheels DIR | --no-install] [-- gpu_check.py options]
#   bash benchmarks/gpu_check.sh -- --device cpu --steps agree     # the CPU side alone, no GPU needed
#
# Dependencies: a torch that sees the GPU is kept as it is (a CUDA machine's image usually has one). Without
# torch, `pip install torch==2.13.0` takes PyPI's default Linux wheel, which is the CUDA build (on the
# development machine the same command takes a local CPU wheel: NOTES.md). Then the project and its
# dependencies (`pip install -e ".[gpu]"`, keeping that torch), from the registry or, on a machine with no
# network, from wheels in DIR (`--wheels DIR`: pip install --no-index --find-links DIR). `--no-install`
# installs nothing: the steps train, agree and project on a feature store made beforehand (`--store`) need
# only what a CUDA machine's image usually has (see gpu_check.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
TIMEOUT="${GPU_CHECK_TIMEOUT:-480}"
dry_run=0
wheels=""
install=1
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --wheels) wheels="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --) shift; pass+=("$@"); break ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (options for gpu_check.py go after --)" >&2; exit 2 ;;
  esac
done

cpu_only=0
for a in "${pass[@]+"${pass[@]}"}"; do
  case "$a" in cpu|--device=cpu) cpu_only=1 ;; esac
done

# importable, without importing (mlflow and ray take seconds to import)
have() {
  "$PY" -c "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in sys.argv[1:]) else 1)" "$@"
}
# the project installed (pip then installed all its dependencies) and the ones the check leans on
have_project() {
  "$PY" -c "import importlib.metadata as m; m.distribution('paaan')" 2>/dev/null && have mlflow ray optuna opensmile
}

pip_install() {
  if [ -n "$wheels" ]; then
    "$PY" -m pip install --quiet --no-index --find-links "$wheels" "$@"
  else
    "$PY" -m pip install --quiet "$@"
  fi
}

if [ "$dry_run" = 1 ]; then
  echo "gpu_check.sh (dry run): python $PY, time limit ${TIMEOUT} s"
  if have torch; then
    echo "  torch: $("$PY" -c 'import torch; print(torch.__version__, "CUDA:", torch.cuda.is_available())')"
  else
    echo "  torch: missing: would run pip install torch==2.13.0${wheels:+ (from $wheels)}"
  fi
  if have_project; then
    echo "  project and dependencies: installed"
  else
    echo "  project and dependencies: would run pip install -e .[gpu]${wheels:+ (from $wheels)}"
  fi
  exec "$PY" -m benchmarks.gpu_check --dry-run "${pass[@]+"${pass[@]}"}"
fi

# 1. torch, with CUDA unless the CPU side alone was asked for
if [ "$install" = 1 ] && ! have torch; then
  echo "installing torch==2.13.0 ..."
  pip_install torch==2.13.0
fi
if [ "$cpu_only" = 0 ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check.sh: torch $("$PY" -c 'import torch; print(torch.__version__)') sees no CUDA device" \
       "(add -- --device cpu for the CPU side alone)" >&2
  exit 1
fi

# 2. the project and its dependencies (torch is already there and satisfies the project's range: kept)
if [ "$install" = 1 ] && ! have_project; then
  echo "installing the project and its dependencies ..."
  pip_install -e ".[gpu]"
fi

# 3. the check, within its time limit (timeout exits 124 when it runs over)
export PYTHONUNBUFFERED=1
exec timeout "$TIMEOUT" "$PY" -m benchmarks.gpu_check "${pass[@]+"${pass[@]}"}"
