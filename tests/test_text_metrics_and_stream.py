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


class CountingTokenizer:
    """Counts how many token ids are decoded in all."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.decoded = 0

    def decode(self, ids):
        self.decoded += len(ids)
        return self.tokenizer.decode(ids)


def test_stream_decodes_in_linear_time(tokenizer):
    text = "A long answer, token after token, with 東京 and 🫠. " * 60
    ids = tokenizer.encode(text)
    counting = CountingTokenizer(tokenizer)
    assert "".join(stream_text(iter(ids), counting)) == text
    # Re-decoding the whole buffer each time would decode ~n**2 / 2 ids
    assert counting.decoded < 12 * len(ids)


def test_stream_cuts_the_text_right_after_a_stop_string(tokenizer):
    ids = tokenizer.encode("First paragraph.\n\nSecond one.")
    pieces = list(stream_text(iter(ids), tokenizer, stop_strings=["\n\n"]))
    assert "".join(pieces) == "First paragraph.\n\n"


def test_stream_cut_inside_a_token(tokenizer):
    ids = tokenizer.encode("Name: Ada Lovelace")
    out = "".join(stream_text(iter(ids), tokenizer, stop_strings=["Lov"]))
    assert out == "Name: Ada Lov"


def test_stream_stop_string_that_begins_in_the_prompt(tokenizer):
    prompt = tokenizer.encode("List:\n")
    ids = tokenizer.encode("\nitem")
    out = "".join(stream_text(iter(ids), tokenizer, stop_strings=["\n\n"],
                              prompt_ids=prompt))
    assert out == "\n"
