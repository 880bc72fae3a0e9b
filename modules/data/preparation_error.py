"""The error raised when a corpus cannot be prepared.

Authors
 * efficient-asr contributors
"""

# At most this many defects are listed; the rest are counted.
MAX_LISTED_DEFECTS = 50


class PreparationError(RuntimeError):
    """Raised when the input corpus is missing, malformed or unusable.

    Holds every defect found, each written ``<path>: <what is wrong>``. The
    message lists them one per line (the first :data:`MAX_LISTED_DEFECTS`,
    then ``... and N more``), so a training log shows all of them.

    Arguments
    ---------
    defects : str or list of str
        One defect, or every defect found.

    Example
    -------
    >>> raise PreparationError("data/LibriSpeech does not exist.")
    Traceback (most recent call last):
    ...
    modules.data.preparation_error.PreparationError: data/LibriSpeech does not exist.
    >>> err = PreparationError(["a.flac: 8000 Hz.", "b.flac: 2 channels."])
    >>> print(err)
    2 corpus defects, fix them and prepare again:
    a.flac: 8000 Hz.
    b.flac: 2 channels.
    >>> err.listed_defects()
    ['a.flac: 8000 Hz.', 'b.flac: 2 channels.']
    """

    def __init__(self, defects):
        self.defects = [defects] if isinstance(defects, str) else list(defects)
        lines = self.listed_defects()
        if len(self.defects) > 1:
            lines.insert(
                0,
                f"{len(self.defects)} corpus defects, fix them and prepare again:",
            )
        super().__init__("\n".join(lines))

    def listed_defects(self, max_listed=MAX_LISTED_DEFECTS):
        """Return the defects to show, one per line, capped at ``max_listed``.

        Arguments
        ---------
        max_listed : int
            Defects listed before the rest are summarised as one line.

        Returns
        -------
        list of str
            The first ``max_listed`` defects, then ``... and N more`` if
            there are more.

        Example
        -------
        >>> PreparationError(["x: bad", "y: bad", "z: bad"]).listed_defects(2)
        ['x: bad', 'y: bad', '... and 1 more']
        """
        lines = self.defects[:max_listed]
        if len(self.defects) > max_listed:
            lines.append(f"... and {len(self.defects) - max_listed} more")
        return lines

    def __reduce__(self):
        """Pickle with the defect list (exceptions cross process boundaries)."""
        return (type(self), (self.defects,))
