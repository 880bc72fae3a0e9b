#!/usr/bin/env bash
# Teacher-student compression study of the Conformer-CTC.
#
# A teacher (TEACHER; by default the plain baseline trained here first) is
# compressed into the student of STUDENT_YAML (2 layers, d_model 96: about
# 1/4 of the baseline's MACs) five ways (six with kd_clean_view), each
# trained with the same epochs:
#   student_alone  CTC only (the comparison point)
#   kd             logit KD from the teacher ((1 - a) CTC + a T^2 KL), the
#                  teacher reading the student's SpecAugmented features
#   kd_clean_view  the same with the teacher on the clean audio (as
#                  published; not in the default STUDENTS)
#   fitnets        FitNets hints (FITNETS_EPOCHS epochs), then logit KD
#   qat8, qat4     logit KD with 8-bit / 4-bit weights in every forward pass
# Every experiment is tested and benchmarked with post-training int8
# quantization of its reference exit as an extra variant (the teacher too),
# and all are merged by `python -m benchmark.aggregate` into $OUT/aggregate
# (report.md, results.csv, results.json, WER vs MACs / CPU time / size plots).
#
#   recipes/LibriSpeech/compression.sh [--key=value ...]
#
# The arguments are extra train.py overrides given to every run, the
# teacher's training included; they must not repeat a key the script sets (output_folder, experiment_name,
# teacher, teacher_view, loss_class, loss_options, fitnets_epochs,
# weight_quantization_bits, synthetic_corpus, benchmark, benchmark_options).
# Settings, by environment variable [default]:
#   PYTHON             interpreter [.venv/bin/python, else python3]
#   TEACHER_YAML       the teacher's YAML [hparams/conformer_ctc_baseline.yaml]
#   TEACHER            trained teacher experiment folder [$OUT/teacher,
#                      trained here from TEACHER_YAML when not complete]
#   YAML               the students' YAML
#                      [hparams/conformer_ctc_student_kd.yaml]
#   CORPUS             built-in corpus, tiny | small [the YAMLs': small]
#   EPOCHS             epochs of every run, the teacher's too [the YAMLs']
#   FITNETS_EPOCHS     FitNets hint epochs [3]
#   STUDENTS           which students ["student_alone kd fitnets qat8 qat4"]
#   LM                 benchmark LM: auto | none | PATH to an ARPA [auto]
#   BENCHMARK_OPTIONS  benchmark_options as a YAML mapping, replacing LM
#                      ["{lm: $LM, quantization: [dynamic-int8]}"]
#   OUT                output root [results/compression]
# Relative paths are relative to the repository root.
#
# Resumable: an experiment whose folder holds SWEEP_DONE is skipped; any other
# is (re)run and continues from its last checkpoint. A TEACHER given from
# elsewhere is never retrained; it is in the aggregate when it has benchmark
# results (python -m benchmark.run TEACHER adds them).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"
TEACHER_YAML=${TEACHER_YAML:-hparams/conformer_ctc_baseline.yaml}
YAML=${YAML:-hparams/conformer_ctc_student_kd.yaml}
OUT=${OUT:-results/compression}
TEACHER=${TEACHER:-$OUT/teacher}
FITNETS_EPOCHS=${FITNETS_EPOCHS:-3}
STUDENTS=${STUDENTS:-student_alone kd fitnets qat8 qat4}
LM=${LM:-auto}
BENCHMARK_OPTIONS=${BENCHMARK_OPTIONS:-"{lm: $LM, quantization: [dynamic-int8]}"}

common=(--benchmark=True "--benchmark_options=$BENCHMARK_OPTIONS")
EXTRA=("$@")
if [[ -n "${CORPUS:-}" ]]; then common+=("--synthetic_corpus=$CORPUS"); fi
if [[ -n "${EPOCHS:-}" ]]; then common+=("--number_of_epochs=$EPOCHS"); fi

# student_overrides NAME: the train.py overrides of one student.
student_overrides() {
    local plain_ctc='!name:modules.losses.exit_losses.EarlyExitCTCLoss'
    case "$1" in
        student_alone) echo "--loss_class=$plain_ctc --loss_options=null" ;;
        kd) echo "--teacher=$TEACHER" ;;
        kd_clean_view) echo "--teacher=$TEACHER --teacher_view=clean" ;;
        fitnets) echo "--teacher=$TEACHER --fitnets_epochs=$FITNETS_EPOCHS" ;;
        qat8) echo "--teacher=$TEACHER --weight_quantization_bits=8" ;;
        qat4) echo "--teacher=$TEACHER --weight_quantization_bits=4" ;;
        *)
            echo "compression sweep: unknown student '$1' in STUDENTS; use" \
                "student_alone, kd, kd_clean_view, fitnets, qat8 or qat4" >&2
            return 1
            ;;
    esac
}

# Every student name is checked before anything trains.
for student in $STUDENTS; do student_overrides "$student" >/dev/null; done

if [[ "$TEACHER" == "$OUT/teacher" ]]; then
    YAML_STUDENT=$YAML
    YAML=$TEACHER_YAML
    run_experiment compression "$TEACHER" compression_teacher
    YAML=$YAML_STUDENT
fi
experiments=()
if compgen -G "$TEACHER/benchmark/*/results.json" >/dev/null; then
    experiments+=("$TEACHER")
else
    echo "compression sweep: $TEACHER has no benchmark results, left out of" \
        "the aggregate (python -m benchmark.run $TEACHER adds them)"
fi

for student in $STUDENTS; do
    overrides=$(student_overrides "$student")
    # shellcheck disable=SC2086  # the overrides hold no spaces
    run_experiment compression "$OUT/$student" "compression_$student" $overrides
    experiments+=("$OUT/$student")
done

"$PYTHON" -m benchmark.aggregate "${experiments[@]}" --output "$OUT/aggregate"
