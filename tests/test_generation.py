"""The book's four greedy loops (Listings 2.2 and 2.4, Exercise 2.2):
invariants on a tiny float32 model."""

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


def stream_to_tensor(stream, token_ids):
    tokens = list(stream)
    return torch.cat(tokens, dim=1) if tokens else token_ids[:, :0]


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


# Without an EOS id the book's loops never call .item(), so a batch works
@pytest.mark.parametrize("token_ids", [PROMPT, BATCH])
def test_cached_streamed_and_uncached_agree(tiny_model, token_ids):
    n = 15
    plain = generate_text_basic(tiny_model, token_ids, n)
    cached = generate_text_basic_cache(tiny_model, token_ids, n)
    stream = stream_to_tensor(
        generate_text_basic_stream(tiny_model, token_ids, n), token_ids
    )
    stream_cached = stream_to_tensor(
        generate_text_basic_stream_cache(tiny_model, token_ids, n),
        token_ids,
    )
    assert plain.shape == (token_ids.shape[0], n)
    assert torch.equal(plain, cached)
    assert torch.equal(plain, stream)
    assert torch.equal(plain, stream_cached)


def test_stops_before_eos(tiny_model):
    free = generate_text_basic(tiny_model, PROMPT, 12)[0].tolist()
    eos = free[4]
    stop = free.index(eos)
    for fn in (generate_text_basic, generate_text_basic_cache):
        out = fn(tiny_model, PROMPT, 12, eos_token_id=eos)
        assert out[0].tolist() == free[:stop]
    for fn in (generate_text_basic_stream, generate_text_basic_stream_cache):
        tokens = [t.item() for t in fn(tiny_model, PROMPT, 12, eos)]
        assert tokens == free[:stop]


def test_eos_as_the_first_token_gives_an_empty_answer(tiny_model):
    first = generate_text_basic(tiny_model, PROMPT, 1)[0, 0].item()
    for fn in (generate_text_basic, generate_text_basic_cache):
        assert fn(tiny_model, PROMPT, 5, eos_token_id=first).shape == (1, 0)


def test_zero_new_tokens_gives_an_empty_result(tiny_model):
    for fn in (generate_text_basic, generate_text_basic_cache):
        assert fn(tiny_model, BATCH, 0).shape == (2, 0)
    for fn in (generate_text_basic_stream, generate_text_basic_stream_cache):
        assert list(fn(tiny_model, BATCH, 0)) == []


def test_cache_is_reset_between_calls(tiny_model):
    first = generate_text_basic_cache(tiny_model, PROMPT, 8)
    second = generate_text_basic_cache(tiny_model, PROMPT, 8)
    assert torch.equal(first, second)


def test_leaves_model_in_eval_mode(tiny_model):
    for fn in (generate_text_basic, generate_text_basic_cache):
        tiny_model.train()
        fn(tiny_model, PROMPT, 1)
        assert not tiny_model.training
