# Shared by the sweep scripts (sourced, not run): the interpreter, the working
# directory and one resumable experiment run.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=python3
    [[ -x .venv/bin/python ]] && PYTHON=.venv/bin/python
fi

# run_experiment SWEEP FOLDER NAME OVERRIDE...: train + test + benchmark
# $YAML into FOLDER with the caller's "${common[@]}" and "${EXTRA[@]}";
# skipped when FOLDER/SWEEP_DONE exists.
run_experiment() {
    local sweep=$1 folder=$2 name=$3
    shift 3
    if [[ -e "$folder/SWEEP_DONE" ]]; then
        echo "$sweep sweep: $folder is complete, skipped"
        return
    fi
    echo "$sweep sweep: $folder"
    "$PYTHON" train.py "$YAML" "--output_folder=$folder" \
        "--experiment_name=$name" "${common[@]}" "$@" "${EXTRA[@]}"
    touch "$folder/SWEEP_DONE"
}
