#!/usr/bin/env bash
# The trainer benchmark on CUDA (issue 14): ART's Madry trainer vs art-ext `pgd` in fp32, with the
# default policy (bf16 autocast on GPUs with bf16) and with torch.compile, one epoch each, 3 interleaved
# repeats; then one short accuracy unit per art-ext variant; then PreAct ResNet-18 PGD-10 epochs on
# CIFAR-shaped tensors (issue 26). Sized to finish in under 9 minutes on an H100/H200 (the stages' timeouts
# add up to 470 s; a session has 15 minutes of device time, start-up included). Results land in $OUT/trainers-gpu (or benchmarks/results/trainers-gpu).
#
# Through the device tool (the lent GPU machine has python3 with a CUDA torch but not ART or Foolbox):
#   here, once:  echo /.whl/ >> .git/info/exclude
#                python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#                  --platform manylinux2014_x86_64 --platform any -d .whl adversarial-robustness-toolbox==1.20.1 \
#                  foolbox==3.3.4 eagerpy==0.30.0 GitPython gitdb smmap pluggy multiprocess dill filelock
#                echo /.gpu-data/ >> .git/info/exclude; mkdir -p .gpu-data; cp -r ../shared/data/mnist .gpu-data/
#                (the data beside the checkout does not travel; an ignored copy inside it can, when carried)
#   then run:    device run --carry .whl,.gpu-data --command "bash benchmarks/gpu.sh" --timeout_s 540
#   and copy $OUT/trainers-gpu/* into benchmarks/results/trainers-gpu/ here; the README builder reads it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || export PYTHONPATH=${PYTHONPATH:-}:$PWD
export PYTHONUNBUFFERED=1
RESULTS=${OUT:-benchmarks/results}/trainers-gpu
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$RESULTS/gpu.csv" || true
DATA=${ART_EXT_DATA:-../shared/data}
[ -d "$DATA/mnist" ] || DATA=.gpu-data
timeout 200 python3 benchmarks/trainers.py timing --device cuda --out "$RESULTS" --data-dir "$DATA/mnist" \
  --threads 8 --repeats 3 --methods pgd-fp32,pgd,pgd-compile,art.madry 2>&1 | tail -20 || true
timeout 100 python3 benchmarks/trainers.py accuracy --device cuda --out "$RESULTS" --data-dir "$DATA/mnist" \
  --threads 8 --seeds 0 --epochs 2 --n-test 500 --restarts 2 --aa "" --methods pgd,pgd-fp32 2>&1 | tail -5 || true
# issue 26: PreAct ResNet-18, PGD-10 adversarial training, one epoch of 5,000 random CIFAR-shaped images
# (3x32x32; the time of an epoch does not depend on the pixels; CIFAR-10 is not on the machine), art-ext
# pgd (fp32 and default policy) against ART's Madry trainer, 2 interleaved repeats
timeout 150 python3 benchmarks/trainers.py timing --device cuda --out "$RESULTS" --data cifar-shaped --n-train 5000 \
  --arch preact_resnet18 --steps 10 --eps 0.0314 --threads 8 --repeats 2 --methods pgd-fp32,pgd,art.madry --tag cifar \
  2>&1 | tail -5 || true
timeout 20 python3 benchmarks/trainers.py report --out "$RESULTS" || true
cat "$RESULTS/results.md" || true
# The device tool brings back at most 8 files, none more than 2 folders below $OUT: the unit records
# travel as one archive (weights left out) and the clean-weight cache stays behind.
if [ -n "${OUT:-}" ]; then
  [ -d "$RESULTS/units" ] && tar czf "$RESULTS/units.tar.gz" --exclude="*.pt" -C "$RESULTS" units && rm -rf "$RESULTS/units"
  rm -rf "$RESULTS/cache"
fi
