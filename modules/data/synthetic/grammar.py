"""A probabilistic context-free grammar of English story sentences.

The grammar has declaratives with subject-verb agreement and tense, noun
phrases with adjectives, possessives, prepositional phrases and relative
clauses, subordinate and reported clauses, questions, imperatives, quotes,
numbers, dates and comparisons. Semantic classes (people, animals, things,
food, documents, places) restrict which verbs take which objects, so the
sentences have the local structure an n-gram language model can learn.

The rules themselves are text in :mod:`grammar_rules`; this module parses
them and samples derivations. Words within a category are drawn with
Zipf-like weights.

Example
-------
>>> import numpy as np
>>> grammar = Grammar()
>>> sentence = grammar.sample(np.random.default_rng(0))
>>> sentence.transcript == sentence.transcript.upper()
True

Authors
 * efficient-asr contributors
"""

import bisect
import itertools
import re
from dataclasses import dataclass

from .grammar_rules import PLACEHOLDERS, RULES
from .lexicon import lexical_categories

PUNCTUATION = frozenset(",.?!")
POSSESSIVE = "'s"
# Words starting with a vowel letter but a consonant sound, and vice versa.
AN_EXCEPTIONS = ("one", "uni", "use", "euro")
AN_SILENT_H = ("hour", "honest", "honor", "heir")
ZIPF_OFFSET = 3


class GrammarTooDeep(Exception):
    """Raised internally when a derivation exceeds the recursion limit.

    Example
    -------
    >>> raise GrammarTooDeep("NP_PERSON_SG")
    Traceback (most recent call last):
    ...
    modules.data.synthetic.grammar.GrammarTooDeep: NP_PERSON_SG
    """


@dataclass(frozen=True)
class Sentence:
    """One generated sentence.

    Arguments
    ---------
    transcript : str
        LibriSpeech-style text: upper case, words separated by one space.
    speech_text : str
        The same words with punctuation and case, as given to eSpeak.

    Example
    -------
    >>> Sentence("HELLO THERE", "hello, there.").transcript
    'HELLO THERE'
    """

    transcript: str
    speech_text: str


def expand_placeholders(lhs, body):
    """Instantiate a templated rule for every placeholder value.

    Arguments
    ---------
    lhs : str
        Left-hand side, e.g. ``NP_{C}_{N}``.
    body : str
        Right-hand side, using the same placeholders.

    Returns
    -------
    list of (str, str)
        Concrete ``(lhs, body)`` pairs.

    Example
    -------
    >>> expand_placeholders("DET_{N}", "1 the N_{N}")
    [('DET_SG', '1 the N_SG'), ('DET_PL', '1 the N_PL')]
    """
    keys = [key for key in PLACEHOLDERS if "{" + key + "}" in lhs]
    pairs = []
    for values in itertools.product(*(PLACEHOLDERS[key] for key in keys)):
        mapping = dict(zip(keys, values))
        pairs.append((lhs.format(**mapping), body.format(**mapping)))
    return pairs


def parse_rules(text):
    """Parse :data:`RULES` into ``{lhs: (cumulative_weights, alternatives)}``.

    Arguments
    ---------
    text : str
        The rules, continuation lines starting with ``|``.

    Returns
    -------
    dict
        Non-terminal -> (list of cumulative weights, list of symbol tuples).

    Example
    -------
    >>> parse_rules("GREETING = 3 hello NAME\\n  | 1 hi")
    {'GREETING': ([3, 4], [('hello', 'NAME'), ('hi',)])}
    """
    joined = re.sub(r"\n\s*\|", " |", text.strip())
    rules = {}
    for line in joined.splitlines():
        lhs, body = (part.strip() for part in line.split("=", 1))
        for name, concrete in expand_placeholders(lhs, body):
            weights, alternatives = [], []
            for alternative in concrete.split("|"):
                weight, *symbols = alternative.split()
                weights.append(int(weight))
                alternatives.append(tuple(symbols))
            rules[name] = (list(itertools.accumulate(weights)), alternatives)
    return rules


def needs_an(word):
    """Whether the article before ``word`` is ``an`` rather than ``a``.

    Arguments
    ---------
    word : str
        The word following the article.

    Returns
    -------
    bool
        True for a vowel sound, e.g. ``apple`` or ``hour``.

    Example
    -------
    >>> needs_an("apple"), needs_an("hour"), needs_an("uniform"), needs_an("dog")
    (True, True, False, False)
    """
    word = word.lower()
    if word.startswith(AN_SILENT_H):
        return True
    return word[0] in "aeiou" and not word.startswith(AN_EXCEPTIONS)


def render(tokens):
    """Turn derived tokens into a :class:`Sentence`.

    Arguments
    ---------
    tokens : list of str
        Words, punctuation and possessive markers in order.

    Returns
    -------
    Sentence
        The transcript and the text for the synthesiser.

    Example
    -------
    >>> render(["john", "'s", "a", "owl", "sang", "."])
    Sentence(transcript="JOHN'S AN OWL SANG", speech_text="john's an owl sang.")
    """
    words, spoken = [], []
    for index, token in enumerate(tokens):
        if token in PUNCTUATION:
            spoken[-1] += token
            continue
        if token == POSSESSIVE:
            words[-1] += token
            spoken[-1] += token
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token == "a" and following and needs_an(following):
            token = "an"
        words.append(token)
        spoken.append(token)
    return Sentence(" ".join(words).upper(), " ".join(spoken))


class UniformStream:
    """Uniform floats in [0, 1) drawn in blocks from a numpy Generator.

    Arguments
    ---------
    rng : numpy.random.Generator
        The source; the stream is a pure function of its seed.
    block : int
        How many numbers to draw at once.

    Example
    -------
    >>> import numpy as np
    >>> stream = UniformStream(np.random.default_rng(0), block=2)
    >>> 0.0 <= stream.next() < 1.0
    True
    """

    def __init__(self, rng, block=4096):
        self.rng = rng
        self.block = block
        self.values = []

    def next(self):
        """Return the next uniform number.

        Example
        -------
        >>> import numpy as np
        >>> stream = UniformStream(np.random.default_rng(0), block=3)
        >>> drawn = [stream.next() for _ in range(3)]
        >>> drawn == np.random.default_rng(0).random(3).tolist()
        True
        """
        if not self.values:
            self.values = self.rng.random(self.block).tolist()
            self.values.reverse()
        return self.values.pop()


class Grammar:
    """Sampler for the sentence grammar.

    Arguments
    ---------
    max_depth : int
        Derivations nested deeper than this are rejected and redrawn.

    Example
    -------
    >>> import numpy as np
    >>> grammar = Grammar()
    >>> words = grammar.sample(np.random.default_rng(1)).transcript.split()
    >>> set(words) <= grammar.vocabulary() | {w for w in words if "'" in w}
    True
    """

    def __init__(self, max_depth=20):
        self.rules = parse_rules(RULES)
        self.words = lexical_categories()
        self.max_depth = max_depth
        self.word_weights = {
            name: list(
                itertools.accumulate(
                    1.0 / (rank + ZIPF_OFFSET) for rank in range(len(words))
                )
            )
            for name, words in self.words.items()
        }

    def _choose(self, cumulative, uniform):
        """Index drawn from cumulative weights with one uniform number."""
        return bisect.bisect_right(cumulative, uniform * cumulative[-1])

    def _expand(self, symbol, stream, tokens, depth):
        """Append the derivation of ``symbol`` to ``tokens``."""
        if symbol in self.rules:
            if depth > self.max_depth:
                raise GrammarTooDeep(symbol)
            cumulative, alternatives = self.rules[symbol]
            chosen = alternatives[self._choose(cumulative, stream.next())]
            for child in chosen:
                self._expand(child, stream, tokens, depth + 1)
        elif symbol in self.words:
            index = self._choose(self.word_weights[symbol], stream.next())
            tokens.append(self.words[symbol][index])
        else:
            tokens.append(symbol)

    def sample(self, stream, max_words=40):
        """Draw one sentence.

        Arguments
        ---------
        stream : UniformStream or numpy.random.Generator
            Source of randomness.
        max_words : int
            Longer derivations are rejected and redrawn.

        Returns
        -------
        Sentence
            The sampled sentence.

        Example
        -------
        >>> import numpy as np
        >>> sentence = Grammar().sample(np.random.default_rng(0), max_words=5)
        >>> len(sentence.transcript.split()) <= 5
        True
        """
        if not isinstance(stream, UniformStream):
            stream = UniformStream(stream)
        while True:
            tokens = []
            try:
                self._expand("S", stream, tokens, 0)
            except GrammarTooDeep:
                continue
            if len(tokens) <= max_words:
                return render(tokens)

    def vocabulary(self):
        """Return every word the grammar can produce, upper case.

        Possessive forms (``JOHN'S``) are not counted separately.

        Returns
        -------
        set of str
            The distinct words.

        Example
        -------
        >>> vocabulary = Grammar().vocabulary()
        >>> {"THE", "SAID", "YESTERDAY"} <= vocabulary, "," in vocabulary
        (True, False)
        """
        seen, todo, vocabulary = set(), ["S"], set()
        while todo:
            symbol = todo.pop()
            if symbol in seen:
                continue
            seen.add(symbol)
            if symbol in self.rules:
                todo.extend(s for alt in self.rules[symbol][1] for s in alt)
            elif symbol in self.words:
                vocabulary.update(word.upper() for word in self.words[symbol])
            elif symbol not in PUNCTUATION and symbol != POSSESSIVE:
                vocabulary.add(symbol.upper())
        return vocabulary
