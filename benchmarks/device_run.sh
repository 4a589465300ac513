#!/usr/bin/env bash
# One prepared run on a machine with many cores and a GPU (issue 22): fills the 1-16-thread tables and the GPU
# table in about 8 minutes, writing each part's results under OUT as soon as it has them (a run cut short keeps
# what it measured). Usage, from the repository root:
#     OUT=/some/dir bash benchmarks/device_run.sh            # OUT defaults to ./device-results
#     THREADS=1,4,16 CONFIGS=C,D bash benchmarks/device_run.sh
# Needs NumPy (and the repository's src on PYTHONPATH, set here); uses PyTorch, Numba, the mkl / blis wheels and
# CuPy where they are installed and says which were missing. Nothing is downloaded.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-device-results}
THREADS=${THREADS:-1,2,4,8,16}
CONFIGS=${CONFIGS:-C,D}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/log.txt"; }

# --- the machine and what is installed
{
  echo "# device run $(date -Is)"
  nproc; uptime
  grep -m1 "model name" /proc/cpuinfo
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  for m in numpy torch numba cupy threadpoolctl blis; do
    $PY -c "import $m; print('$m', $m.__version__)" 2>/dev/null || echo "$m: not installed"
  done
  ls "$($PY -c 'import sys; print(sys.prefix)')"/lib/libmkl_rt.so* 2>/dev/null || echo "mkl wheel: not installed"
} > "$OUT/machine.txt" 2>&1
log "machine: $(nproc) cores; $(grep -c . "$OUT/machine.txt") lines in machine.txt"

# --- 1. the fused kernels against today's NumPy passes, 1-16 threads (about 30 s)
if $PY -c "import numba" 2>/dev/null; then
  log "kernels"
  timeout 90 $PY benchmarks/kernels.py --threads "$THREADS" --configs "$CONFIGS" --out "$OUT/kernels.md" \
    --json "$OUT/kernels.json" > "$OUT/kernels.log" 2>&1 || log "kernels: exit $?"
else
  log "kernels: numba not installed, skipped"
fi

# --- 2. the BLAS: NumPy's OpenBLAS vs the mkl and blis wheels at the configs' shapes (about 60 s)
log "blas"
timeout 120 $PY benchmarks/blas.py --threads 1,4,16 --configs "$CONFIGS" --rounds 1 --repeats 2 \
  --out "$OUT/blas.md" --json "$OUT/blas.json" > "$OUT/blas.log" 2>&1 || log "blas: exit $?"

# --- 3. the GPU: numnet (CuPy) vs PyTorch CUDA vs a minimal CuPy loop, and the GPU tests (about 90 s)
if $PY -c "import cupy; cupy.cuda.runtime.getDeviceCount()" 2>/dev/null; then
  log "gpu speed"
  timeout 150 $PY benchmarks/speed.py --device cuda --configs B,C,D,E --repeats 3 --no-target \
    --out "$OUT/gpu.md" --json "$OUT/gpu.json" > "$OUT/gpu.log" 2>&1 || log "gpu speed: exit $?"
  log "gpu tests"
  timeout 90 $PY -m pytest -q -m gpu tests/test_gpu.py > "$OUT/gpu-tests.txt" 2>&1 || log "gpu tests: exit $?"
else
  log "gpu: no CuPy or no GPU, skipped"
fi

# --- 4. CPU thread scaling, each framework in its own process, SGD and Adam, with the split (the rest of the time)
left=$(( 470 - ($(date +%s) - start) ))
log "cpu threads ($left s left)"
if [ "$left" -gt 30 ]; then
  timeout "$left" $PY benchmarks/speed.py --threads "$THREADS" --configs "$CONFIGS" --rounds 1 --repeats 1 \
    --train-size 10000 --kernels --fused-sgd --out "$OUT/threads.md" --json "$OUT/threads.json" \
    > "$OUT/threads.log" 2>&1 || log "cpu threads: exit $? (threads.json holds the processes that finished)"
fi
log "done"
