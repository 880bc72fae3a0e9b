"""Long chapters for long-form corpora: how many speakers, how long each reads.

The standard sizes (``tiny``, ``small``) give each speaker a few utterances,
so their chapters last 13-42 s (measured on ``small``: 40 chapters of
13-29 s per evaluation split, 204 training chapters of 21-42 s). Joined
into long-form recordings (:mod:`modules.data.long_form`), a chapter must
last minutes. The ``*-long`` sizes therefore give every speaker one chapter
of a fixed length: each split has fewer speakers, each reading longer. The
sentences, voices and audio settings are drawn exactly as in the standard
sizes; only the number of speakers and their share of the split change.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChapterLayout:
    """One long chapter per speaker.

    Arguments
    ---------
    train_chapter_seconds : float
        Audio per training speaker; the training split's share of the hours
        sets how many speakers it has.
    eval_chapter_seconds : float
        Audio per speaker of each evaluation split.
    eval_speakers : int
        Speakers (= chapters) of each evaluation split.
    """

    train_chapter_seconds: float
    eval_chapter_seconds: float
    eval_speakers: int

    def train_speakers(self, train_seconds):
        """Speakers of a training split of ``train_seconds`` (at least 2).

        Example
        -------
        >>> ChapterLayout(180.0, 300.0, 4).train_speakers(6120.0)
        34
        """
        return int(np.clip(round(train_seconds / self.train_chapter_seconds), 2, 2000))

    def eval_seconds(self):
        """Audio of each evaluation split.

        Example
        -------
        >>> ChapterLayout(180.0, 300.0, 4).eval_seconds()
        1200.0
        """
        return self.eval_speakers * self.eval_chapter_seconds


# Size name -> layout. ``small-long``: 34 training speakers of 3 minutes
# (so that context lengths up to about 3 minutes can be trained; the voice
# variants are given in turn, so each of the 21 is heard) and 4 speakers of
# 5 minutes per evaluation split (20 minutes each); ``tiny-long`` is for
# tests.
LONG_FORM_LAYOUTS = {
    "tiny-long": ChapterLayout(
        train_chapter_seconds=30.0, eval_chapter_seconds=40.0, eval_speakers=2
    ),
    "small-long": ChapterLayout(
        train_chapter_seconds=180.0, eval_chapter_seconds=300.0, eval_speakers=4
    ),
}
