"""A synthetic text corpus for the n-gram LM tests of ``modules/decoding``."""

import random

VOCAB = [f"W{i}" for i in range(60)]


def synthetic_corpus(n_sentences: int, seed: int) -> str:
    """Sentences from one fixed random bigram chain (Zipf-like successor
    choice), so that held-out text has the same structure as training."""
    chain_rng = random.Random(1234)
    successors = {w: chain_rng.sample(VOCAB, 8) for w in ["<s>", *VOCAB]}
    weights = [1 / (k + 1) for k in range(8)]
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        word, sentence = "<s>", []
        while len(sentence) < 12 and (len(sentence) < 3 or rng.random() > 0.2):
            word = rng.choices(successors[word], weights)[0]
            sentence.append(word)
        lines.append(" ".join(sentence))
    return "\n".join(lines) + "\n"
