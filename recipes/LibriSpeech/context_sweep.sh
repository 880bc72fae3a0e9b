#!/usr/bin/env bash
# How much context does the Conformer-CTC need? (Flynn & Ragni, 2023)
#
# Trains hparams/conformer_ctc_context.yaml once per context length x
# positional encoding; each run (train.py) also runs the test stage, the
# long-form test stage (modules/inference/long_form_stage.py: every split of
# EVAL_SPLITS decoded window by window with a window of the run's training
# length, hop = window / 8, in every mode of MODES, next to its segmented
# decoding, into <run>/long_form/<split>/<mode>/) and, unless
# BENCHMARK=False, the benchmark stage (whose report gets a Long-form
# section). Everything is then aggregated into $OUT/aggregate: results.csv,
# results.md and wer_vs_context.png (recipes/LibriSpeech/context_aggregate.py).
#
#   recipes/LibriSpeech/context_sweep.sh [--key=value ...]
#
# The arguments are extra train.py overrides given to every run (e.g.
# --long_form_hop=2.56); they must not repeat a key the script sets
# (output_folder, experiment_name, context_length_seconds,
# context_batch_seconds, positional_encoding, rope_theta, long_form_folder,
# long_form_splits, long_form_modes, synthetic_corpus, number_of_epochs,
# benchmark, benchmark_options).
# Settings, by environment variable [default]:
#   PYTHON            interpreter [.venv/bin/python, else python3]
#   YAML              the recipe [hparams/conformer_ctc_context.yaml]
#   CONTEXT_LENGTHS   training context lengths in seconds, each at least the
#                     longest training utterance and a multiple of
#                     FRAME_STRIDE ["20.48 40.96 81.92"]
#   ENCODINGS         positional encodings: relative | rotary | sine | none,
#                     rotary@THETA for another rotary base (published:
#                     rotary@1500000) ["relative rotary none"]
#   BATCH_SECONDS     audio per batch, the same for every run [the longest
#                     of CONTEXT_LENGTHS]
#   MODES             long-form window modes: average | centre | none
#                     ["average"; "average none centre" for the ablation]
#   EVAL_SPLITS       splits evaluated long-form [test-clean test-other]
#   FRAME_STRIDE      the model's output frame stride in seconds [0.04]
#   CORPUS            built-in corpus, tiny-long | small-long [the YAML's]
#   EPOCHS            epochs of every run, warm-up included [the YAML's]
#   BENCHMARK         True | False: the benchmark stage of every run [True]
#   LM                benchmark LM: auto | none | PATH to an ARPA [auto]
#   BENCHMARK_OPTIONS benchmark_options as a YAML mapping, replacing LM
#                     ["{lm: $LM}"]
#   OUT               output root [results/context_sweep]
# Relative paths are relative to the repository root.
#
# Resumable: an experiment whose folder holds SWEEP_DONE and every long-form
# result of EVAL_SPLITS x MODES is not run again; any other continues from
# its last checkpoint (inside its warm-up stage), and a finished one that
# lacks a long-form result (a mode or split added since) runs train.py
# again: training is complete, the test and benchmark stages run again, and
# the long-form stage evaluates only what is missing. The long-form
# recordings are prepared once into $OUT/long_form_data and shared by every
# run.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"
YAML=${YAML:-hparams/conformer_ctc_context.yaml}
OUT=${OUT:-results/context_sweep}
CONTEXT_LENGTHS=${CONTEXT_LENGTHS-20.48 40.96 81.92}
ENCODINGS=${ENCODINGS-relative rotary none}
MODES=${MODES-average}
EVAL_SPLITS=${EVAL_SPLITS-test-clean test-other}
FRAME_STRIDE=${FRAME_STRIDE:-0.04}
BENCHMARK=${BENCHMARK:-True}
LM=${LM:-auto}
BENCHMARK_OPTIONS=${BENCHMARK_OPTIONS:-"{lm: $LM}"}

fail() {
    echo "context sweep: $*" >&2
    exit 1
}

# check_seconds NAME VALUE: a positive number of seconds.
check_seconds() {
    [[ "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] && awk -v l="$2" 'BEGIN { exit !(l > 0) }' ||
        fail "'$2' in $1 is not a positive number of seconds"
}

# check_length L: a positive number, a multiple of FRAME_STRIDE.
check_length() {
    check_seconds CONTEXT_LENGTHS "$1"
    awk -v l="$1" -v s="$FRAME_STRIDE" \
        'BEGIN { r = l / s; exit !(r - int(r + 0.5) < 1e-6 && int(r + 0.5) - r < 1e-6) }' ||
        fail "context length $1 s is not a multiple of FRAME_STRIDE=$FRAME_STRIDE s" \
            "(the long-form window is the training length); use e.g." \
            "$(awk -v l="$1" -v s="$FRAME_STRIDE" 'BEGIN { print int(l / s) * s }')"
}

# encoding_overrides ITEM: the train.py overrides of one encoding.
encoding_overrides() {
    case "$1" in
        relative | rotary | sine | none) echo "--positional_encoding=$1" ;;
        rotary@*)
            local theta=${1#rotary@}
            [[ "$theta" =~ ^[0-9]+([.][0-9]+)?([eE][0-9]+)?$ ]] ||
                fail "rotary base '$theta' in ENCODINGS is not a positive number"
            echo "--positional_encoding=rotary --rope_theta=$theta"
            ;;
        *)
            fail "unknown encoding '$1' in ENCODINGS; use relative, rotary," \
                "sine, none or rotary@THETA"
            ;;
    esac
}

# Every setting is checked before anything trains.
# (An empty list is refused, not replaced by the default.)
for name in CONTEXT_LENGTHS ENCODINGS MODES EVAL_SPLITS; do
    [[ -n "${!name// /}" ]] || fail "$name is empty; give at least one value"
done
check_seconds FRAME_STRIDE "$FRAME_STRIDE"
for length in $CONTEXT_LENGTHS; do check_length "$length"; done
# Shortest first: a length shorter than an utterance stops the sweep at the
# start-up of its first run, before anything else trains.
# shellcheck disable=SC2086  # one length per word
CONTEXT_LENGTHS=$(printf '%s\n' $CONTEXT_LENGTHS | sort -g -u)
for encoding in $ENCODINGS; do encoding_overrides "$encoding" >/dev/null; done
for mode in $MODES; do
    [[ "$mode" =~ ^(average|centre|none)$ ]] ||
        fail "unknown mode '$mode' in MODES; use average, centre or none"
done
[[ "$BENCHMARK" =~ ^(True|False)$ ]] ||
    fail "BENCHMARK='$BENCHMARK'; use True or False"
BATCH_SECONDS=${BATCH_SECONDS:-$(tail -n 1 <<<"$CONTEXT_LENGTHS")}
check_seconds BATCH_SECONDS "$BATCH_SECONDS"

# shellcheck disable=SC2086  # one split / mode per word
splits_list=$(printf '%s,' $EVAL_SPLITS) modes_list=$(printf '%s,' $MODES)
common=("--benchmark=$BENCHMARK" "--benchmark_options=$BENCHMARK_OPTIONS"
    "--context_batch_seconds=$BATCH_SECONDS" "--long_form_folder=$OUT/long_form_data"
    "--long_form_splits=[${splits_list%,}]" "--long_form_modes=[${modes_list%,}]")
EXTRA=("$@")
if [[ -n "${CORPUS:-}" ]]; then common+=("--synthetic_corpus=$CORPUS"); fi
if [[ -n "${EPOCHS:-}" ]]; then common+=("--number_of_epochs=$EPOCHS"); fi

experiments=()
for length in $CONTEXT_LENGTHS; do
    for encoding in $ENCODINGS; do
        tag="L${length}_${encoding/@/_theta}"
        folder="$OUT/$tag"
        for split in $EVAL_SPLITS; do
            for mode in $MODES; do
                # A long-form result added since the run finished: run again.
                [[ -e "$folder/long_form/$split/$mode/summary.json" ]] ||
                    rm -f "$folder/SWEEP_DONE"
            done
        done
        # shellcheck disable=SC2046  # the overrides hold no spaces
        run_experiment context "$folder" "context_$tag" \
            "--context_length_seconds=$length" $(encoding_overrides "$encoding")
        experiments+=("$folder")
    done
done

"$PYTHON" recipes/LibriSpeech/context_aggregate.py "${experiments[@]}" \
    --output "$OUT/aggregate"
