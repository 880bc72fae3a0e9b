"""Offline speech synthesis with the eSpeak NG shared library via ctypes.

The library and its voice data come from the ``espeakng_loader`` wheel; a
system ``libespeak-ng`` is the fallback. eSpeak keeps state in C globals
(pitch flutter phase, wave phase...) that survive ``espeak_Terminate``, so a
synthesised waveform depends on everything spoken before it in the process.
:class:`EspeakEngine` therefore reloads the library (``dlclose``/``dlopen``)
at :meth:`EspeakEngine.reset`, which makes the audio of a batch a pure
function of its inputs whatever process or order it runs in.

Authors
 * efficient-asr contributors
"""

import ctypes
import ctypes.util
import os

import numpy as np

SAMPLE_RATE = 22050
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
POS_CHARACTER = 1
BUFFER_MS = 1000
PARAMETERS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}
# Below the default of 100, which clips some variants; levels are set later.
VOLUME = 50
INSTALL_HINT = (
    "eSpeak NG is needed to synthesise the corpus: install it with "
    "`pip install espeakng-loader` (preferred, pinned in requirements.txt) "
    "or `apt-get install espeak-ng`"
)

SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakUnavailableError(RuntimeError):
    """Raised when no usable eSpeak NG library can be loaded."""


def candidate_libraries():
    """List the eSpeak NG libraries to try, best first.

    Returns
    -------
    list of (str, str or None)
        ``(library path, data path)``; a data path of ``None`` lets the
        library use its compiled-in default.
    """
    candidates = []
    try:
        import espeakng_loader

        candidates.append(
            (espeakng_loader.get_library_path(), espeakng_loader.get_data_path())
        )
    except (ImportError, RuntimeError):
        pass
    system = ctypes.util.find_library("espeak-ng")
    if system:
        candidates.append((system, None))
    return candidates


def find_library():
    """Return the first ``(library, data)`` pair of a loadable eSpeak NG.

    Returns
    -------
    tuple of (str, str or None)
        Library path and data path.

    Raises
    ------
    EspeakUnavailableError
        When no candidate can be loaded; the message says what to install.
    """
    tried = []
    for library, data in candidate_libraries():
        try:
            lib = ctypes.CDLL(library, mode=os.RTLD_LOCAL)
        except OSError as error:
            tried.append(f"{library}: {error}")
            continue
        usable = hasattr(lib, "espeak_Synth")
        # Unload again: a library left loaded could not be reset later.
        _unload(lib._handle)
        if usable:
            return library, data
        tried.append(f"{library}: not an eSpeak NG library")
    details = "; ".join(tried) or "no candidate found"
    raise EspeakUnavailableError(f"{INSTALL_HINT} (tried: {details})")


def _declare(lib):
    """Declare the argument types of the functions used."""
    lib.espeak_Initialize.argtypes = [
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.espeak_SetSynthCallback.argtypes = [SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]


class EspeakEngine:
    """One eSpeak NG instance producing 22050 Hz int16 waveforms.

    Arguments
    ---------
    library : str
        Path of ``libespeak-ng``.
    data : str or None
        Path of ``espeak-ng-data`` (``None``: the library default).
    """

    def __init__(self, library, data):
        self.library = library
        self.data = data
        self.lib = None
        self.chunks = []
        self.callback = SynthCallback(self._collect)
        self.reset()

    def _collect(self, samples, count, _events):
        """Synth callback: keep a copy of each block of samples."""
        if count > 0:
            self.chunks.append(ctypes.string_at(samples, count * 2))
        return 0

    def reset(self):
        """Reload the library so that no state is left from earlier text."""
        self.close()
        # Load a private copy of the library: RTLD_LOCAL keeps the symbols
        # apart from any other user of the library in this process.
        self.lib = ctypes.CDLL(self.library, mode=os.RTLD_LOCAL)
        _declare(self.lib)
        data = self.data.encode() if self.data else None
        rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, data, INITIALIZE_DONT_EXIT
        )
        if rate != SAMPLE_RATE:
            raise EspeakUnavailableError(
                f"eSpeak NG at {self.library} failed to initialise with data "
                f"{self.data} (returned {rate}). {INSTALL_HINT}"
            )
        self.lib.espeak_SetSynthCallback(self.callback)

    def close(self):
        """Terminate eSpeak and unload the library."""
        if self.lib is not None:
            self.lib.espeak_Terminate()
            handle = self.lib._handle
            self.lib = None
            _unload(handle)

    def synthesize(self, text, voice, rate, pitch, pitch_range):
        """Speak ``text`` and return the waveform.

        Arguments
        ---------
        text : str
            What to say (punctuation shapes the intonation).
        voice : str
            eSpeak voice name with optional variant, e.g. ``en-us+f2``.
        rate : int
            Speaking rate in words per minute (80-450).
        pitch : int
            Base pitch, 0-99.
        pitch_range : int
            Pitch range, 0-99.

        Returns
        -------
        numpy.ndarray
            int16 samples at :data:`SAMPLE_RATE`.
        """
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        values = {"rate": rate, "volume": VOLUME, "pitch": pitch, "range": pitch_range}
        for name, value in values.items():
            self.lib.espeak_SetParameter(PARAMETERS[name], int(value), 0)
        self.chunks = []
        encoded = text.encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(
            encoded, len(encoded), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
        )
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status}) on {text!r}")
        return np.frombuffer(b"".join(self.chunks), dtype=np.int16)


def _unload(handle):
    """``dlclose`` a handle so that the next load starts from fresh globals."""
    import _ctypes

    _ctypes.dlclose(handle)
