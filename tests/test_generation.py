"""The book's four greedy loops: invariants on a tiny model, bad input."""

import pytest
import torch

from helpers import (
    generate_text_basic,
    generate_text_basic_cache,
    generate_text_basic_stream,
    generate_text_basic_stream_cache,
)

PROMPT = torch.tensor([[1, 5, 9, 2, 7]])
BATCH = torch.tensor([[1, 5, 9, 2, 7], [3, 3, 8, 1, 4]])


def stream_to_tensor(stream):
    tokens = list(stream)
    return torch.cat(tokens, dim=1) if tokens else None


def reference_greedy(model, token_ids, n):
    """Greedy decoding written as plainly as possible, one row."""
    ids = token_ids[0].tolist()
    with torch.inference_mode():
        for _ in range(n):
            logits = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    return ids[token_ids.shape[1]:]


def test_matches_plain_greedy(tiny_model):
    out = generate_text_basic(tiny_model, PROMPT, 12)
    assert out.shape == (1, 12)
    assert out[0].tolist() == reference_greedy(tiny_model, PROMPT, 12)


@pytest.mark.parametrize("token_ids", [PROMPT, BATCH])
def test_cached_streamed_and_uncached_agree(tiny_model, token_ids):
    n = 15
    plain = generate_text_basic(tiny_model, token_ids, n)
    cached = generate_text_basic_cache(tiny_model, token_ids, n)
    stream = stream_to_tensor(
        generate_text_basic_stream(tiny_model, token_ids, n)
    )
    stream_cached = stream_to_tensor(
        generate_text_basic_stream_cache(tiny_model, token_ids, n)
    )
    assert plain.shape == (token_ids.shape[0], n)
    assert torch.equal(plain, cached)
    assert torch.equal(plain, stream)
    assert torch.equal(plain, stream_cached)


def test_stops_before_eos_for_one_sequence(tiny_model):
    free = generate_text_basic(tiny_model, PROMPT, 12)[0].tolist()
    eos = free[4]
    stop = free.index(eos)
    for fn in (generate_text_basic, generate_text_basic_cache):
        out = fn(tiny_model, PROMPT, 12, eos_token_id=eos)
        assert out[0].tolist() == free[:stop]
    for fn in (generate_text_basic_stream, generate_text_basic_stream_cache):
        tokens = [t.item() for t in fn(tiny_model, PROMPT, 12, eos)]
        assert tokens == free[:stop]


def test_batch_with_eos_in_one_row_only(tiny_model):
    n = 12
    free = generate_text_basic(tiny_model, BATCH, n).tolist()
    # An EOS id that row 0 produces and row 1 never does
    eos = next(t for t in free[0] if t not in free[1])
    stop = free[0].index(eos)
    expected_row0 = free[0][:stop] + [eos] * (n - stop)
    for fn in (generate_text_basic, generate_text_basic_cache):
        out = fn(tiny_model, BATCH, n, eos_token_id=eos)
        assert out.tolist() == [expected_row0, free[1]]
    for fn in (generate_text_basic_stream, generate_text_basic_stream_cache):
        out = stream_to_tensor(fn(tiny_model, BATCH, n, eos))
        assert out.tolist() == [expected_row0, free[1]]


def test_batch_stops_when_every_row_has_finished(tiny_model):
    n = 12
    free = generate_text_basic(tiny_model, BATCH, n).tolist()
    shared = [t for t in free[0] if t in free[1]]
    if not shared:
        pytest.skip("the tiny model's rows share no token")
    eos = shared[0]
    last = max(free[0].index(eos), free[1].index(eos))
    out = generate_text_basic_cache(tiny_model, BATCH, n, eos_token_id=eos)
    # Stops at the step where the later row produces EOS, before adding it
    assert out.shape == (2, last)


def test_zero_new_tokens_gives_empty_batch(tiny_model):
    for fn in (generate_text_basic, generate_text_basic_cache):
        out = fn(tiny_model, BATCH, 0)
        assert out.shape == (2, 0)
    for fn in (generate_text_basic_stream, generate_text_basic_stream_cache):
        assert list(fn(tiny_model, BATCH, 0)) == []


def test_cache_is_reset_between_calls(tiny_model):
    first = generate_text_basic_cache(tiny_model, PROMPT, 8)
    second = generate_text_basic_cache(tiny_model, PROMPT, 8)
    assert torch.equal(first, second)


def test_leaves_model_in_eval_mode(tiny_model):
    tiny_model.train()
    generate_text_basic(tiny_model, PROMPT, 1)
    assert not tiny_model.training


ALL = [
    generate_text_basic,
    generate_text_basic_cache,
    lambda *a, **k: list(generate_text_basic_stream(*a, **k)),
    lambda *a, **k: list(generate_text_basic_stream_cache(*a, **k)),
]


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize(
    ("token_ids", "max_new_tokens", "eos", "error", "message"),
    [
        ([1, 2, 3], 5, None, TypeError, "unsqueeze"),
        (torch.tensor([1, 2, 3]), 5, None, ValueError, "unsqueeze"),
        (torch.tensor([[1.0, 2.0]]), 5, None, TypeError, "integer"),
        (torch.zeros(1, 0, dtype=torch.long), 5, None, ValueError,
         "at least one"),
        (PROMPT, -1, None, ValueError, "max_new_tokens must be >= 0"),
        (PROMPT, 2.5, None, TypeError, "max_new_tokens must be an int"),
        (PROMPT, True, None, TypeError, "max_new_tokens must be an int"),
        (PROMPT, 3, "<|endoftext|>", TypeError, "eos_token_id"),
    ],
)
def test_bad_input_gets_a_clear_error(
    tiny_model, fn, token_ids, max_new_tokens, eos, error, message
):
    with pytest.raises(error, match=message):
        fn(tiny_model, token_ids, max_new_tokens, eos_token_id=eos)
