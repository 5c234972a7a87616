#!/usr/bin/env bash
# The checks that need a GPU, in one run on a machine with CUDA (run from the repository root):
# the CUDA tests (tests/test_gpu.py), DeepSKA's training step and estimators with SDnet on the CPU and on
# the GPU (same data, same process), and MDN sampling on the GPU against pycrn's exact method on all cores.
# Writes its logs and JSON to $OUT (default /tmp/gpu_checks). pycrn need not be installed: PYTHONPATH is
# the checkout; netCDF4, zarr and dask are not needed here.
set -o pipefail
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 PYCRN_CACHE_DIR=${PYCRN_CACHE_DIR:-/tmp/pycrn_gpu_cache}
PY=${PY:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  $PY -c "import sys, torch, numba, numpy, xarray; print(sys.version.split()[0], 'torch', torch.__version__,
  'numba', numba.__version__, 'numpy', numpy.__version__, 'xarray', xarray.__version__)"; } 2>&1 | tee "$OUT/machine.txt"
start=$SECONDS
timeout 200 $PY -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/test_gpu.log"
echo "tests: $((SECONDS - start)) s" | tee -a "$OUT/machine.txt"
start=$SECONDS
timeout 260 $PY benchmarks/bench_deepska.py --networks toggle_switch,antithetic_integral_control \
  --trajectories 2000 --steps 6 --accumulate 10 --modes 18 --samples 1000 --repeats 3 \
  --device cpu,cuda --torch-threads "$(nproc)" --json "$OUT/deepska_cpu_vs_gpu.json" 2>&1 | tee "$OUT/bench_deepska.log"
echo "bench_deepska: $((SECONDS - start)) s" | tee -a "$OUT/machine.txt"
start=$SECONDS
timeout 150 $PY benchmarks/bench_abstraction.py --device cuda --repeats 3 --grn-steps 250 \
  --json "$OUT/abstraction_gpu.json" 2>&1 | tee "$OUT/bench_abstraction.log"
echo "bench_abstraction: $((SECONDS - start)) s" | tee -a "$OUT/machine.txt"
