"""Text metrics of the temperature study, and streaming text."""

import pytest
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from helpers.text_metrics import (
    has_repeated_trigram,
    repetition_rate,
    unique_share,
    vocabulary_diversity,
    words,
)
from helpers.text_stream import stream_text


def test_metrics_on_known_texts():
    texts = ["the cat sat on the mat", "the cat sat on the mat",
             "a dog ran, and the dog ran and the dog ran and stopped"]
    assert words("Hello, World!") == ["hello", "world"]
    assert unique_share(texts) == pytest.approx(2 / 3)
    all_words = 6 + 6 + 13
    distinct = len({"the", "cat", "sat", "on", "mat", "a", "dog", "ran",
                    "and", "stopped"})
    assert vocabulary_diversity(texts) == pytest.approx(distinct / all_words)
    assert not has_repeated_trigram(texts[0])
    assert has_repeated_trigram(texts[2])
    assert repetition_rate(texts) == pytest.approx(1 / 3)
    assert vocabulary_diversity(["", "!!"]) == 0.0


def test_metrics_need_texts():
    with pytest.raises(ValueError, match="at least one"):
        unique_share([])
    with pytest.raises(ValueError, match="at least one"):
        repetition_rate([])


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)


def test_stream_never_prints_half_a_character(tokenizer):
    text = "Schmelzen 🫠 und 龘!"
    ids = tokenizer.encode(text)
    pieces = list(stream_text(iter(ids), tokenizer))
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)
    # Decoding token by token would have printed replacement characters
    assert any("\ufffd" in tokenizer.decode([i]) for i in ids)


def test_stream_flushes_an_unfinished_character(tokenizer):
    ids = tokenizer.encode("🫠")[:2]  # cut inside the character
    assert "".join(stream_text(ids, tokenizer)) == tokenizer.decode(ids)
