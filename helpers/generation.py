"""The book's greedy generation loops (sections 2.7 and 2.8, Exercise 2.2).

Each loop takes token ids of shape (batch, n_tokens) and generates up to
``max_new_tokens`` tokens by always picking the most likely next token.
With ``eos_token_id``, a batch stops once every row has produced EOS; rows
that finished earlier are padded with ``eos_token_id``. For a batch of one
this is exactly the book's behaviour: generation stops before EOS is added.
"""

import torch
from reasoning_from_scratch.qwen3 import KVCache

from .validation import check_generation_args


@torch.inference_mode()
def generate_text_basic(model, token_ids, max_new_tokens,
                        eos_token_id=None):
    check_generation_args(token_ids, max_new_tokens, eos_token_id)
    input_length = token_ids.shape[1]
    model.eval()
    # One flag per row: has this row produced EOS yet?
    finished = torch.zeros_like(token_ids[:, :1], dtype=torch.bool)

    for _ in range(max_new_tokens):
        out = model(token_ids)[:, -1]  # (batch, vocab_size)
        next_token = torch.argmax(out, dim=-1, keepdim=True)  # (batch, 1)

        if eos_token_id is not None:
            finished |= next_token == eos_token_id
            if torch.all(finished):
                break
            next_token = next_token.masked_fill(finished, eos_token_id)

        token_ids = torch.cat([token_ids, next_token], dim=1)
    return token_ids[:, input_length:]


@torch.inference_mode()
def generate_text_basic_stream(model, token_ids, max_new_tokens,
                               eos_token_id=None):
    check_generation_args(token_ids, max_new_tokens, eos_token_id)
    model.eval()
    finished = torch.zeros_like(token_ids[:, :1], dtype=torch.bool)

    for _ in range(max_new_tokens):
        out = model(token_ids)[:, -1]  # (batch, vocab_size)
        next_token = torch.argmax(out, dim=-1, keepdim=True)  # (batch, 1)

        if eos_token_id is not None:
            finished |= next_token == eos_token_id
            if torch.all(finished):
                break
            next_token = next_token.masked_fill(finished, eos_token_id)

        yield next_token  # New: hand each token over as soon as it exists
        token_ids = torch.cat([token_ids, next_token], dim=1)


@torch.inference_mode()
def generate_text_basic_cache(model, token_ids, max_new_tokens,
                              eos_token_id=None):
    check_generation_args(token_ids, max_new_tokens, eos_token_id)
    model.eval()
    cache = KVCache(n_layers=model.cfg["n_layers"])  # New
    model.reset_kv_cache()  # New
    out = model(token_ids, cache=cache)[:, -1]  # New: prefill the cache
    finished = torch.zeros_like(token_ids[:, :1], dtype=torch.bool)
    generated = []

    for _ in range(max_new_tokens):
        next_token = torch.argmax(out, dim=-1, keepdim=True)  # (batch, 1)

        if eos_token_id is not None:
            finished |= next_token == eos_token_id
            if torch.all(finished):
                break
            next_token = next_token.masked_fill(finished, eos_token_id)

        generated.append(next_token)
        # New: feed only the new token; the cache holds the rest
        out = model(next_token, cache=cache)[:, -1]

    if generated:
        return torch.cat(generated, dim=1)
    return token_ids[:, :0]  # (batch, 0): nothing was generated


@torch.inference_mode()
def generate_text_basic_stream_cache(model, token_ids, max_new_tokens,
                                     eos_token_id=None):
    check_generation_args(token_ids, max_new_tokens, eos_token_id)
    model.eval()
    cache = KVCache(n_layers=model.cfg["n_layers"])
    model.reset_kv_cache()
    out = model(token_ids, cache=cache)[:, -1]
    finished = torch.zeros_like(token_ids[:, :1], dtype=torch.bool)

    for _ in range(max_new_tokens):
        next_token = torch.argmax(out, dim=-1, keepdim=True)  # (batch, 1)

        if eos_token_id is not None:
            finished |= next_token == eos_token_id
            if torch.all(finished):
                break
            next_token = next_token.masked_fill(finished, eos_token_id)

        yield next_token  # New: hand each token over as soon as it exists
        out = model(next_token, cache=cache)[:, -1]
