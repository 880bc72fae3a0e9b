"""Files written by the test stage: WER tables and per-utterance transcripts."""

import csv
import json
import os


def write_wer_summary(results, folder):
    """Write ``wer_summary.json`` and ``wer_summary.md`` (exits x test sets).

    Arguments
    ---------
    results : dict
        ``{test_set: {"exit_layers": [...], "wer": [...], "num_utts": n}}``.
    folder : str
        Output folder.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> res = {"test-clean": {"exit_layers": [2, 4], "wer": [30.0, 10.5],
    ...        "num_utts": 3}}
    >>> write_wer_summary(res, tmp)
    >>> print(open(os.path.join(tmp, "wer_summary.md")).read().splitlines()[2])
    | 1 | 2 | 30.00 |
    """
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "wer_summary.json"), "w") as fout:
        json.dump(results, fout, indent=2)
    test_sets = list(results)
    exit_layers = results[test_sets[0]]["exit_layers"]
    lines = [
        "| exit | layer | " + " | ".join(f"{t} WER %" for t in test_sets) + " |",
        "|---|---|" + "---|" * len(test_sets),
    ]
    for i, layer in enumerate(exit_layers):
        wers = " | ".join(f"{results[t]['wer'][i]:.2f}" for t in test_sets)
        lines.append(f"| {i + 1} | {layer} | {wers} |")
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
