#!/usr/bin/env bash
# Waveform-downsampling sweep of the from-scratch Conformer-CTC.
#
# One experiment per technique x factor (downsampling_method x
# downsampling_factor, modules/nn/downsampling.py) plus the baseline without
# downsampling. Each is `python train.py $YAML ... --benchmark=True`: trained,
# tested, then benchmarked on every test set (WER, CPU/GPU time with and
# without LM, MACs). The results are merged by `python -m benchmark.aggregate`
# into $OUT/aggregate (report.md, results.csv, results.json, wer_vs_macs.png).
#
#   recipes/LibriSpeech/downsampling.sh [--key=value ...]
#
# The arguments are extra train.py overrides given to every experiment (e.g.
# --data_folder=/data/LibriSpeech ...); they must not repeat a key the script
# sets (output_folder, experiment_name, downsampling_*, ctc_upsampling,
# number_of_epochs, synthetic_corpus, benchmark, benchmark_options).
# Settings, by environment variable [default]:
#   PYTHON             interpreter [.venv/bin/python, else python3]
#   YAML               experiment YAML [hparams/conformer_ctc_baseline.yaml];
#                      hparams/conformer_ctc_early_exit.yaml adds exits
#   CORPUS             built-in corpus, tiny | small [the YAML's: small]
#   EPOCHS             training epochs [the YAML's number_of_epochs]
#   TECHNIQUES         downsampling methods ["signal conv avg"]
#   FACTORS            downsampling factors ["2 3 4"]
#   UPSAMPLE_FROM      factors >= this one get the CTC upsampling head
#                      (ctc_upsampling: True); "never" for none [3]
#   LM                 benchmark LM: auto | none | PATH to an ARPA [auto]
#   BENCHMARK_OPTIONS  benchmark_options as a YAML mapping, replacing LM
#                      ["{lm: $LM}"], e.g. "{lm: none, repeats: 1}"
#   OUT                output root [results/downsampling]
# Relative paths are relative to the repository root.
#
# Resumable: an experiment whose folder holds SWEEP_DONE is skipped; any other
# is (re)run and continues from its last checkpoint. Delete SWEEP_DONE to
# rerun one (with more EPOCHS, say).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"
YAML=${YAML:-hparams/conformer_ctc_baseline.yaml}
TECHNIQUES=${TECHNIQUES:-signal conv avg}
FACTORS=${FACTORS:-2 3 4}
UPSAMPLE_FROM=${UPSAMPLE_FROM:-3}
LM=${LM:-auto}
BENCHMARK_OPTIONS=${BENCHMARK_OPTIONS:-"{lm: $LM}"}
OUT=${OUT:-results/downsampling}

common=(--benchmark=True "--benchmark_options=$BENCHMARK_OPTIONS")
if [[ -n "${CORPUS:-}" ]]; then common+=("--synthetic_corpus=$CORPUS"); fi
if [[ -n "${EPOCHS:-}" ]]; then common+=("--number_of_epochs=$EPOCHS"); fi
EXTRA=("$@")

experiments=(none)
run_experiment downsampling "$OUT/none" downsampling_none \
    --downsampling_method=none --downsampling_factor=1
for technique in $TECHNIQUES; do
    for factor in $FACTORS; do
        upsampling=False
        if [[ "$UPSAMPLE_FROM" != never && "$factor" -ge "$UPSAMPLE_FROM" ]]; then
            upsampling=True
        fi
        run_experiment downsampling "$OUT/${technique}_x$factor" \
            "downsampling_${technique}_x$factor" "--downsampling_method=$technique" \
            "--downsampling_factor=$factor" "--ctc_upsampling=$upsampling"
        experiments+=("${technique}_x$factor")
    done
done

"$PYTHON" -m benchmark.aggregate "${experiments[@]/#/$OUT/}" \
    --output "$OUT/aggregate" --baseline downsampling_none
