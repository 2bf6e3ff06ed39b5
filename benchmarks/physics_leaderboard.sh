#!/usr/bin/env bash
# The physics leaderboard of README and docs/physics.md: rssm, vmc, genie and flow trained on the
# same in-distribution bounce data for the same wall-clock budget, scored in and out of
# distribution beside repeat-last, mean-frame, the simulator (GT') and the reader's floor;
# flow twice: its default draw and its expected frame (--sample prediction=mean).
#
#   bash benchmarks/physics_leaderboard.sh [OUT=physics_bench] [MINUTES=8]
#
# Every step is resumable: rerunning skips collected episodes and continues runs.
set -euo pipefail
OUT=${1:-physics_bench}
MINUTES=${2:-8}
W=${WORLDLAB:-worldlab}
SIZE=32
# Train a run, or continue it when it already has checkpoints (then its settings stand).
train() {
    local family=$1 run=$2; shift 2
    if [ -d "$run/checkpoints" ]; then
        $W train "$family" --data "$OUT/data/id_train" --out "$run" --resume "${@: -2}"
    else
        $W train "$family" --data "$OUT/data/id_train" --out "$run" "$@"
    fi
}

$W collect --env bounce --split id --episodes 300 --max-steps 100 --size $SIZE --out "$OUT/data/id_train"
$W collect --env bounce --split id --episodes 40 --max-steps 100 --size $SIZE --seed 100000 --out "$OUT/data/id_test"
for split in ood_speed ood_radius ood_gravity ood_both; do
    $W collect --env bounce --split $split --episodes 40 --max-steps 100 --size $SIZE --seed 100000 --out "$OUT/data/$split"
done

# rssm: the demo's configuration (demo preset at half width, batch 16 x 16, lr 2e-3).
train rssm "$OUT/runs/rssm" --preset demo --steps 1000000 --set model.deter=128 \
    --set model.hidden=128 --set model.cnn_depth=8 --set model.lr=2e-3 --set train.batch_size=16 \
    --set train.seq_len=16 --max-minutes "$MINUTES"
# vmc: V and M together, demo preset.
train vmc "$OUT/runs/vmc" --preset demo --steps 1000000 --max-minutes "$MINUTES"
# genie: its three stages share the budget (3/8 tokenizer, 2/8 latent actions, 3/8 dynamics).
T1=$(python3 -c "print($MINUTES*3/8)"); T2=$(python3 -c "print($MINUTES*5/8)")
train genie "$OUT/runs/genie" --preset demo --stage tokenizer --steps 1000000 --max-minutes "$T1"
$W train genie --data "$OUT/data/id_train" --out "$OUT/runs/genie" --stage lam --steps 2000000 \
    --max-minutes "$T2" --resume
$W train genie --data "$OUT/data/id_train" --out "$OUT/runs/genie" --stage dynamics --steps 3000000 \
    --max-minutes "$MINUTES" --resume

# flow: the xs U-Net (DIAMOND-style frame denoiser), batch 16 x 8.
train flow "$OUT/runs/flow" --preset xs --steps 1000000 --set train.batch_size=16 \
    --set train.seq_len=8 --max-minutes "$MINUTES"

$W bench leaderboard "$OUT/runs/rssm" "$OUT/runs/vmc" "$OUT/runs/genie" "$OUT/runs/flow" \
    --data "$OUT/data/id_test" --ood "$OUT/data/ood_speed" --ood "$OUT/data/ood_radius" \
    --ood "$OUT/data/ood_gravity" --ood "$OUT/data/ood_both" --out "$OUT/leaderboard" \
    --sample prediction=mean
