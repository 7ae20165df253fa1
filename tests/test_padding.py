"""Prompts of different lengths in one batch: left padding and an
attention_mask give every row the tokens it gets alone."""

import warnings

import pytest
import torch

from helpers import beam_search, generate, generate_stream, left_pad
from helpers.decoding.padding import RIGHT_PADDING_WARNING
from helpers.tiny_model import tiny_qwen3_model

PROMPTS = [[5, 9, 14, 3, 7, 22], [8, 1], [40, 2, 3], [17]]
PAD = 0


def alone(model, prompt, max_new_tokens, **options):
    return generate(model, torch.tensor([prompt]), max_new_tokens,
                    **options)[0].tolist()


def test_left_pad_pads_on_the_left_and_masks_the_padding():
    token_ids, attention_mask = left_pad([[1, 2, 3], [4]], pad_token_id=0)
    assert token_ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert token_ids.dtype == attention_mask.dtype == torch.long


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_row_gets_the_tokens_it_gets_alone(seed, use_cache):
    model = tiny_qwen3_model(seed=seed)
    token_ids, attention_mask = left_pad(PROMPTS, PAD)
    out = generate(model, token_ids, 15, attention_mask=attention_mask,
                   use_cache=use_cache)
    for row, prompt in enumerate(PROMPTS):
        assert out[row].tolist() == alone(model, prompt, 15)


def test_without_the_mask_the_padded_rows_go_wrong():
    model = tiny_qwen3_model()
    token_ids, _ = left_pad(PROMPTS, PAD)
    out = generate(model, token_ids, 15)
    wrong = [out[row].tolist() != alone(model, prompt, 15)
             for row, prompt in enumerate(PROMPTS)]
    assert wrong == [False, True, True, True]  # the longest has no padding


def test_rows_that_finish_early_are_padded_as_without_padding():
    model = tiny_qwen3_model()
    eos = alone(model, PROMPTS[1], 15)[4]  # ends the second row early
    token_ids, attention_mask = left_pad(PROMPTS, PAD)
    options = dict(eos_token_id=eos, repetition_penalty=1.3)
    out = generate(model, token_ids, 15, attention_mask=attention_mask,
                   **options)
    for row, prompt in enumerate(PROMPTS):
        expected = alone(model, prompt, 15, **options)
        assert out[row, :len(expected)].tolist() == expected
        assert set(out[row, len(expected):].tolist()) <= {eos}


def test_the_stream_takes_the_mask_too():
    model = tiny_qwen3_model()
    token_ids, attention_mask = left_pad(PROMPTS, PAD)
    out = torch.cat(list(generate_stream(model, token_ids, 8,
                                         attention_mask=attention_mask)), 1)
    assert out[3].tolist() == alone(model, PROMPTS[3], 8)


def test_a_mask_of_ones_changes_nothing():
    model = tiny_qwen3_model()
    token_ids = torch.tensor([[5, 9, 14], [8, 1, 2]])
    assert torch.equal(
        generate(model, token_ids, 10,
                 attention_mask=torch.ones_like(token_ids)),
        generate(model, token_ids, 10),
    )


def test_beam_search_searches_the_prompt_without_its_padding():
    model = tiny_qwen3_model()
    token_ids, attention_mask = left_pad(PROMPTS, PAD)
    padded = beam_search(model, token_ids[1:2], 6, beam_width=3,
                         attention_mask=attention_mask[1:2])
    plain = beam_search(model, torch.tensor([PROMPTS[1]]), 6, beam_width=3)
    assert padded[0].tolist() == plain[0].tolist()
    assert padded[1] == pytest.approx(plain[1])


def test_a_batch_ending_in_the_pad_id_without_a_mask_gets_a_warning():
    model = tiny_qwen3_model()
    right_padded = torch.tensor([[5, 9, 14], [8, PAD, PAD]])
    with pytest.warns(UserWarning) as record:
        generate(model, right_padded, 2, pad_token_id=PAD)
    assert str(record[0].message) == RIGHT_PADDING_WARNING
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none for these
        generate(model, right_padded[:1], 2, pad_token_id=PAD)  # one row
        generate(model, right_padded, 2)  # no pad id known
        token_ids, attention_mask = left_pad([[5, 9, 14], [8]], PAD)
        generate(model, token_ids, 2, pad_token_id=PAD,
                 attention_mask=attention_mask)


TOKEN_IDS = torch.tensor([[5, 9, 14], [0, 8, 1]])
BAD_MASKS = [
    ([[1, 1, 1], [0, 1, 1]], TypeError, "torch.Tensor"),
    (torch.ones(2, 4, dtype=torch.long), ValueError, "shape"),
    (torch.tensor([[1, 1, 1], [0, 2, 1]]), ValueError, "only 1"),
    (torch.tensor([[1, 1, 1], [1, 1, 0]]), ValueError, "on the left"),
    (torch.tensor([[1, 1, 1], [0, 0, 0]]), ValueError, "on the left"),
    (torch.tensor([[1, 1, 1], [0, 1, 0]]), ValueError, "on the left"),
]


@pytest.mark.parametrize(("mask", "error", "words"), BAD_MASKS)
def test_bad_masks_are_refused_before_generating(mask, error, words):
    model = tiny_qwen3_model()
    for call in (generate, generate_stream):
        with pytest.raises(error, match=words):
            call(model, TOKEN_IDS, 3, attention_mask=mask)
    with pytest.raises(error, match=words):
        beam_search(model, TOKEN_IDS[1:], 3, attention_mask=(
            mask[1:] if isinstance(mask, torch.Tensor) else mask))


@pytest.mark.parametrize(("prompts", "pad"), [
    ("a prompt", 0), ([], 0), ([[1, 2], []], 0), ([[1, 2.5]], 0),
    (torch.tensor([[1, 2]]), 0), ([[1, 2]], -1), ([[1, 2]], "0"),
])
def test_left_pad_refuses_what_is_not_a_list_of_prompts(prompts, pad):
    with pytest.raises((TypeError, ValueError), match="token ids|pad"):
        left_pad(prompts, pad)
