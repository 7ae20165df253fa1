"""The book's greedy generation loops: Listing 2.2 (section 2.7), Listing
2.4 (section 2.8), and their streaming versions (Exercise 2.2).

These are the book's code, for one prompt at a time: the EOS check reads
``next_token.item()``, which needs a batch of one. For batches, sampling,
stop strings and argument checks, use ``helpers.generate``.
"""

import torch
from reasoning_from_scratch.qwen3 import KVCache


@torch.inference_mode()
def generate_text_basic(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    input_length = token_ids.shape[1]
    model.eval()
    for _ in range(max_new_tokens):
        out = model(token_ids)[:, -1]
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        token_ids = torch.cat(
            [token_ids, next_token], dim=1)
    return token_ids[:, input_length:]


@torch.inference_mode()
def generate_text_basic_cache(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    input_length = token_ids.shape[1]
    model.eval()
    cache = KVCache(n_layers=model.cfg["n_layers"])
    model.reset_kv_cache()
    out = model(token_ids, cache=cache)[:, -1]
    for _ in range(max_new_tokens):
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        token_ids = torch.cat([token_ids, next_token], dim=1)
        out = model(next_token, cache=cache)[:, -1]
    return token_ids[:, input_length:]


# Exercise 2.2: the same loops, handing over each token as it is made

@torch.inference_mode()
def generate_text_basic_stream(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    model.eval()
    for _ in range(max_new_tokens):
        out = model(token_ids)[:, -1]
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        yield next_token  # New: hand the token over right away
        token_ids = torch.cat(
            [token_ids, next_token], dim=1)


@torch.inference_mode()
def generate_text_basic_stream_cache(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    model.eval()
    cache = KVCache(n_layers=model.cfg["n_layers"])
    model.reset_kv_cache()
    out = model(token_ids, cache=cache)[:, -1]
    for _ in range(max_new_tokens):
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        yield next_token  # New: hand the token over right away
        out = model(next_token, cache=cache)[:, -1]
