"""confidence_html: a text coloured by each token's probability, as the
decoding notebook shows it."""

import html
import re

import pytest
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from helpers.confidence import confidence_html, token_pieces


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)


def spans(page):
    """(background, title, text) of each token's span (not the legend)."""
    text_part = page.split("probability of each token")[0]
    return re.findall(r'<span style="background: (#[0-9a-f]{6})" '
                      r'title="([^"]*)">([^<]*)</span>', text_part)


def test_each_token_gets_its_colour_and_probability(tokenizer):
    ids = tokenizer.encode("Paris is the capital of France.")
    probabilities = [i / (len(ids) - 1) for i in range(len(ids))]
    found = spans(confidence_html(ids, probabilities, tokenizer))
    assert "".join(text for _, _, text in found) == (
        "Paris is the capital of France.")
    assert [title for _, title, _ in found] == [
        f"p = {p:.3f}" for p in probabilities]
    colours = [colour for colour, _, _ in found]
    red, green = colours[0], colours[-1]
    assert int(red[1:3], 16) > int(red[3:5], 16)  # more red than green
    assert int(green[3:5], 16) > int(green[1:3], 16)


def test_markup_in_the_text_is_shown_not_interpreted(tokenizer):
    ids = tokenizer.encode("<b>bold</b> & <|endoftext|>")
    page = confidence_html(ids, [0.5] * len(ids), tokenizer)
    assert "<b" not in page and "</b" not in page and "<|" not in page
    shown = "".join(html.unescape(text) for _, _, text in spans(page))
    assert shown == "<b>bold</b> & <|endoftext|>"


def test_a_character_split_over_tokens_is_one_piece(tokenizer):
    ids = tokenizer.encode("a🫠b")
    assert len(ids) > 3  # the emoji takes several byte tokens
    probabilities = [0.9] + [0.5] * (len(ids) - 2) + [0.8]
    pieces = token_pieces(ids, probabilities, tokenizer)
    assert [text for text, _ in pieces] == ["a", "🫠", "b"]
    assert pieces[1][1] == pytest.approx(0.5 ** (len(ids) - 2))


def test_lengths_must_match(tokenizer):
    with pytest.raises(ValueError, match="3 token ids but 2 probabilities"):
        confidence_html([1, 2, 3], [0.5, 0.5], tokenizer)
