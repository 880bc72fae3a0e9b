"""Files written by the test stage: WER tables and per-utterance transcripts."""

import csv
import json
import os

# Keys of a test set's results, as table columns: greedy CTC, CTC beam search,
# greedy attention and joint CTC/attention beam search without and with the
# token n-gram (AED models).
COLUMNS = (
    ("wer", ""),
    ("wer_beam", " (beam)"),
    ("wer_attention", " (attention)"),
    ("wer_joint", " (joint beam)"),
    ("wer_joint_lm", " (joint beam + LM)"),
)


def write_wer_summary(results, folder):
    """Write ``wer_summary.json`` and ``wer_summary.md`` (exits x test sets).

    Arguments
    ---------
    results : dict
        ``{test_set: {"exit_layers": [...], "wer": [...], "num_utts": n}}``
        (greedy WERs), with ``"wer_beam"`` when the test stage also ran the
        CTC beam search, ``"wer_attention"`` and ``"wer_joint"`` for AED
        models (and ``"wer_joint_lm"`` with ``decoding_lm``), and
        ``"ranking_exit"`` (the exit whose dev WER chose the checkpoint,
        noted under the table) when known.
    folder : str
        Output folder. Nothing is written without a test set
        (``test_splits: []``).

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> res = {"test-clean": {"exit_layers": [2, 4], "wer": [30.0, 10.5],
    ...        "num_utts": 3}}
    >>> write_wer_summary(res, tmp)
    >>> print(open(os.path.join(tmp, "wer_summary.md")).read().splitlines()[2])
    | 1 | 2 | 30.00 |
    >>> res["test-clean"]["ranking_exit"] = 1
    >>> write_wer_summary(res, tmp)
    >>> print(open(os.path.join(tmp, "wer_summary.md")).read().splitlines()[-1])
    Checkpoint: lowest dev WER of exit 1.
    >>> write_wer_summary({}, os.path.join(tmp, "none"))
    >>> os.path.exists(os.path.join(tmp, "none"))
    False
    """
    if not results:
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "wer_summary.json"), "w") as fout:
        json.dump(results, fout, indent=2)
    columns = [
        (test_set, key, f"{test_set} WER %{label}")
        for test_set in results
        for key, label in COLUMNS
        if key in results[test_set]
    ]
    exit_layers = next(iter(results.values()))["exit_layers"]
    lines = [
        "| exit | layer | " + " | ".join(title for *_, title in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for i, layer in enumerate(exit_layers):
        wers = " | ".join(f"{results[t][key][i]:.2f}" for t, key, _ in columns)
        lines.append(f"| {i + 1} | {layer} | {wers} |")
    ranking_exit = next(iter(results.values())).get("ranking_exit")
    if ranking_exit is not None:
        lines += ["", f"Checkpoint: lowest dev WER of exit {ranking_exit}."]
    with open(os.path.join(folder, "wer_summary.md"), "w") as fout:
        fout.write("\n".join(lines) + "\n")


def write_transcripts(path, ids, references, hypotheses_per_exit):
    """One CSV row per utterance: ID, reference, then one hypothesis per exit.

    Arguments
    ---------
    path : str
        Output CSV file.
    ids : list of str
        Utterance ids.
    references : list of str
        Reference transcripts.
    hypotheses_per_exit : list of list of str
        ``hypotheses_per_exit[k][n]`` is exit ``k + 1``'s hypothesis of
        utterance ``n``.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    header = ["ID", "reference"] + [
        f"exit{k + 1}" for k in range(len(hypotheses_per_exit))
    ]
    with open(path, "w", newline="") as fout:
        writer = csv.writer(fout)
        writer.writerow(header)
        for n, utt_id in enumerate(ids):
            hyps = [exit_hyps[n] for exit_hyps in hypotheses_per_exit]
            writer.writerow([utt_id, references[n], *hyps])
