"""A synthetic speech corpus in the exact LibriSpeech layout.

Speech is synthesised offline with eSpeak NG from sentences of a
probabilistic grammar, so that the LibriSpeech preparation code, tokenizers,
language models and recipes run end to end without downloading any data::

    from modules.data.synthetic.generate import generate_corpus

    stats = generate_corpus("data/LibriSpeech", size="small", seed=1234)

or ``python recipes/LibriSpeech/generate_corpus.py --output_dir DIR``.

Authors
 * efficient-asr contributors
"""
