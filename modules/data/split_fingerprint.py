"""A cheap fingerprint of a split folder's contents.

The fingerprint changes when a file of the split is added, removed, renamed
or changes size, or when the text of a transcript file changes. It reads
only the folder listing, the file sizes and the transcript files (no audio
decoding), so that a prepared manifest can be checked against its corpus
at every preparation call.

Authors
 * efficient-asr contributors
"""

import hashlib
import os

TRANS_SUFFIX = ".trans.txt"


def fingerprint_split(split_folder):
    """Return a hex digest of a split folder's file list, sizes and transcripts.

    Hidden files and folders (names starting with ``.``) are ignored.

    Arguments
    ---------
    split_folder : str
        The split folder, e.g. ``.../LibriSpeech/dev-clean``.

    Returns
    -------
    str or None
        The SHA-256 hex digest, or None when ``split_folder`` does not exist.

    Example
    -------
    >>> import shutil, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> trans = os.path.join(folder, "1-2.trans.txt")
    >>> with open(trans, "w") as f:
    ...     _ = f.write("1-2-0000 HELLO\\n")
    >>> before = fingerprint_split(folder)
    >>> with open(trans, "w") as f:
    ...     _ = f.write("1-2-0000 HULLO\\n")
    >>> fingerprint_split(folder) == before
    False
    >>> fingerprint_split(os.path.join(folder, "missing")) is None
    True
    >>> shutil.rmtree(folder)
    """
    if not os.path.isdir(split_folder):
        return None
    digest = hashlib.sha256()
    for rel_path, path, size in _listing(split_folder):
        digest.update(f"{rel_path}\0{size}\0".encode("utf-8", "surrogateescape"))
        if rel_path.endswith(TRANS_SUFFIX):
            digest.update(_content_hash(path))
    return digest.hexdigest()


def _content_hash(path):
    """Return the SHA-256 of a file, or a marker if it cannot be read.

    An unreadable transcript is reported by the split scan; here it only
    has to give a fingerprint that differs from a readable one.
    """
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).digest()
    except OSError:
        return b"unreadable"


def _listing(folder):
    """Return ``(relative path, path, size)`` of every non-hidden file, sorted."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                path = os.path.join(dirpath, name)
                rel_path = os.path.relpath(path, folder).replace(os.sep, "/")
                files.append((rel_path, path, os.path.getsize(path)))
    return sorted(files)
