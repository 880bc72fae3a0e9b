"""The error raised when a corpus cannot be prepared.

Authors
 * efficient-asr contributors
"""


class PreparationError(RuntimeError):
    """Raised when the input corpus is missing, malformed or unusable.

    The message always names the offending path and what is wrong with it.

    Example
    -------
    >>> raise PreparationError("data/LibriSpeech does not exist.")
    Traceback (most recent call last):
    ...
    modules.data.preparation_error.PreparationError: data/LibriSpeech does not exist.
    """
