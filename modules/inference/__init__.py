"""Transcribing audio of any length with a trained experiment.

Windowed long-form inference (:mod:`modules.inference.windowed_asr`), its
parts (frame geometry, block reading, overlap merging, streaming decoders),
long-form evaluation (:mod:`modules.inference.long_form_eval`) and the
settings they share (``settings.yaml``).
"""
