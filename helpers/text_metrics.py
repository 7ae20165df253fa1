"""Measures of variety and repetition in generated texts (temperature study
in ``ch02/02_decoding-strategies``)."""

import re

_WORD = re.compile(r"\w+")


def words(text):
    """Lower-cased words (runs of letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def unique_share(texts):
    """Distinct outputs divided by the number of outputs (1/n to 1)."""
    if not texts:
        raise ValueError("texts is empty: pass at least one output.")
    return len(set(texts)) / len(texts)


def vocabulary_diversity(texts):
    """Distinct words divided by all words, over all outputs (0-1)."""
    all_words = [w for text in texts for w in words(text)]
    return len(set(all_words)) / len(all_words) if all_words else 0.0


def has_repeated_trigram(text):
    """True if some sequence of three words occurs twice in ``text``."""
    w = words(text)
    trigrams = list(zip(w, w[1:], w[2:], strict=False))
    return len(trigrams) != len(set(trigrams))


def repetition_rate(texts):
    """Share of outputs that repeat a word trigram (0-1)."""
    if not texts:
        raise ValueError("texts is empty: pass at least one output.")
    return sum(map(has_repeated_trigram, texts)) / len(texts)
