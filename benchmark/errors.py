"""Errors of the benchmark: a run that cannot go on, a bad option.

Example
-------
>>> isinstance(OptionError("repeats must be >= 1"), ValueError)
True
"""


class BenchmarkError(RuntimeError):
    """A benchmark that cannot run as asked (bad folder, device, option)."""


class OptionError(BenchmarkError, ValueError):
    """A benchmark option that is unknown or has a bad value; the message
    names the option."""
