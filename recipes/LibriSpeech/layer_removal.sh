#!/usr/bin/env bash
# Layer-removal sweep of the from-scratch Conformer-CTC.
#
# A trained model (SOURCE; by default an early-exit model trained here first)
# is cut to its first N layers (keep_layers: N, modules/compression/layer_removal.py; the
# exits above N are dropped, the exit after layer N, or a new head there, is
# the output) and fine-tuned, for every N of KEEP_LAYERS. Each experiment is
# `python train.py $YAML --keep_layers=N --init_from_checkpoint=$SOURCE/save
# ... --benchmark=True`: fine-tuned, tested, then benchmarked on every test
# set. The source and all N are merged by `python -m benchmark.aggregate` into
# $OUT/aggregate (report.md, results.csv, results.json, wer_vs_macs.png).
#
#   recipes/LibriSpeech/layer_removal.sh [--key=value ...]
#
# The arguments are extra train.py overrides given to every run, the source's
# training included (model keys must match the source's); they must not
# repeat a key the script sets (output_folder, experiment_name, keep_layers,
# init_from_checkpoint, number_of_epochs, synthetic_corpus, benchmark,
# benchmark_options).
# Settings, by environment variable [default]:
#   PYTHON             interpreter [.venv/bin/python, else python3]
#   YAML               experiment YAML, the source's too
#                      [hparams/conformer_ctc_early_exit.yaml]
#   SOURCE             trained experiment folder to cut (built from YAML with
#                      the same model keys) [$OUT/source, trained here with
#                      SOURCE_EPOCHS when not complete]
#   SOURCE_EPOCHS      epochs of the source [the YAML's number_of_epochs]
#   CORPUS             built-in corpus, tiny | small [the YAML's: small]
#   EPOCHS             fine-tuning epochs [the YAML's number_of_epochs]
#   FINETUNE_OVERRIDES more overrides for the fine-tuning runs only, e.g.
#                      "--lr=0.001 --n_warmup_steps=100" [none]
#   KEEP_LAYERS        values of N ["2 4 6 8 10"]
#   LM                 benchmark LM: auto | none | PATH to an ARPA [auto]
#   BENCHMARK_OPTIONS  benchmark_options as a YAML mapping, replacing LM
#                      ["{lm: $LM}"], e.g. "{lm: none, repeats: 1}"
#   OUT                output root [results/layer_removal]
# Relative paths are relative to the repository root.
#
# Resumable: an experiment whose folder holds SWEEP_DONE is skipped; any other
# is (re)run and continues from its last checkpoint. Delete SWEEP_DONE to
# rerun one. A SOURCE given from elsewhere is never retrained; it is in the
# aggregate when it has benchmark results (python -m benchmark.run SOURCE).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"
YAML=${YAML:-hparams/conformer_ctc_early_exit.yaml}
OUT=${OUT:-results/layer_removal}
SOURCE=${SOURCE:-$OUT/source}
KEEP_LAYERS=${KEEP_LAYERS:-2 4 6 8 10}
LM=${LM:-auto}
BENCHMARK_OPTIONS=${BENCHMARK_OPTIONS:-"{lm: $LM}"}
read -r -a finetune <<<"${FINETUNE_OVERRIDES:-}"

common=(--benchmark=True "--benchmark_options=$BENCHMARK_OPTIONS")
if [[ -n "${CORPUS:-}" ]]; then common+=("--synthetic_corpus=$CORPUS"); fi
EXTRA=("$@")

# epochs_override EPOCHS: --number_of_epochs=EPOCHS, or nothing when empty.
epochs_override() {
    if [[ -n "$1" ]]; then echo "--number_of_epochs=$1"; fi
}

if [[ "$SOURCE" == "$OUT/source" ]]; then
    run_experiment layer-removal "$SOURCE" layer_removal_source \
        $(epochs_override "${SOURCE_EPOCHS:-}")
fi
experiments=()
if compgen -G "$SOURCE/benchmark/*/results.json" >/dev/null; then
    experiments+=("$SOURCE")
else
    echo "layer-removal sweep: $SOURCE has no benchmark results, left out of" \
        "the aggregate (python -m benchmark.run $SOURCE adds them)"
fi
for keep in $KEEP_LAYERS; do
    run_experiment layer-removal "$OUT/keep$keep" "layer_removal_keep$keep" \
        $(epochs_override "${EPOCHS:-}") \
        "--keep_layers=$keep" "--init_from_checkpoint=$SOURCE/save" \
        "${finetune[@]}"
    experiments+=("$OUT/keep$keep")
done

"$PYTHON" -m benchmark.aggregate "${experiments[@]}" --output "$OUT/aggregate"
