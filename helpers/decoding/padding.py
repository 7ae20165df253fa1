"""Prompts of different lengths in one batch, padded on the left so that
every row's next token comes from its last column; an ``attention_mask``
says which columns hold tokens (1) and which padding (0), as in
transformers. Positions count the padding, as the book's model does:
rotary embeddings depend only on distances, so attention is the same.
"""

import warnings

import torch

from .validation import check_token_id, is_int

# transformers' words, for a batch that looks padded on the right
RIGHT_PADDING_WARNING = (
    "A decoder-only architecture is being used, but right-padding was "
    "detected! For correct generation results, please set "
    "`padding_side='left'` when initializing the tokenizer."
)

_PROMPTS_HINT = ("prompts must be a list of non-empty lists of token ids, "
                 "e.g. [tokenizer.encode(text) for text in texts].")


def left_pad(prompts, pad_token_id, device=None):
    """Pad prompts (lists of token ids) on the left to one length; return
    ``(token_ids, attention_mask)``, (batch, n_tokens) each: ``[[1, 2, 3],
    [4]]`` gives ``[[1, 2, 3], [0, 0, 4]]`` and ``[[1, 1, 1], [0, 0, 1]]``
    with pad id 0."""
    if isinstance(prompts, (str, bytes, torch.Tensor)):
        raise TypeError(_PROMPTS_HINT)
    prompts = list(prompts)  # a generator is read once, here
    if not prompts or not all(isinstance(p, (list, tuple)) and p
                              and all(map(is_int, p)) for p in prompts):
        raise TypeError(_PROMPTS_HINT)
    check_token_id("pad_token_id", pad_token_id)
    n_tokens = max(len(p) for p in prompts)
    token_ids = torch.full((len(prompts), n_tokens), pad_token_id,
                           dtype=torch.long)
    attention_mask = torch.zeros_like(token_ids)
    for row, prompt in enumerate(prompts):
        token_ids[row, n_tokens - len(prompt):] = torch.tensor(prompt)
        attention_mask[row, n_tokens - len(prompt):] = 1
    return token_ids.to(device), attention_mask.to(device)


def check_attention_mask(attention_mask, token_ids, pad_token_id=None):
    """``attention_mask`` as a bool tensor, or None without padding.
    Without a mask, a batch whose last column holds ``pad_token_id`` gets
    transformers' warning: it was probably padded on the right."""
    if attention_mask is None:
        if (pad_token_id is not None and token_ids.shape[0] > 1
                and torch.any(token_ids[:, -1] == pad_token_id)):
            warnings.warn(RIGHT_PADDING_WARNING, stacklevel=3)
        return None
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(
            "attention_mask must be a torch.Tensor of 1s (tokens) and 0s "
            f"(padding), got {type(attention_mask).__name__}; "
            "helpers.left_pad(prompts, pad_token_id) returns one."
        )
    if attention_mask.shape != token_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)}, "
            f"token_ids {tuple(token_ids.shape)}: they must be the same, "
            "one 1 or 0 per token id."
        )
    if attention_mask.device != token_ids.device:
        raise ValueError(
            f"attention_mask is on {attention_mask.device}, token_ids on "
            f"{token_ids.device}: use "
            f"attention_mask.to({str(token_ids.device)!r})."
        )
    if not torch.all((attention_mask == 0) | (attention_mask == 1)):
        raise ValueError(
            "attention_mask must hold only 1 (a token) and 0 (padding)."
        )
    mask = attention_mask.bool()
    if not torch.all(mask[:, -1]) or not torch.all(mask[:, 1:] >=
                                                   mask[:, :-1]):
        raise ValueError(
            "attention_mask has padding (0) after a token: pad prompts on "
            "the left, as helpers.left_pad does, since each row's next "
            "token comes from its last column."
        )
    return None if torch.all(mask) else mask


def attention_allowed(is_token, pos_start, pos_end):
    """Where the queries at ``pos_start:pos_end`` may attend, (batch, 1,
    n_queries, pos_end), given ``is_token`` (batch, pos_end; False for
    padding): the past and themselves, never padding. Padding attends to
    itself: with nothing to attend to it would be NaN, which spreads."""
    device = is_token.device
    queries = torch.arange(pos_start, pos_end, device=device)[:, None]
    keys = torch.arange(pos_end, device=device)[None, :]
    return (((keys <= queries) & is_token[:, None, None, :pos_end])
            | (keys == queries))


def forward_with_mask(model, token_ids, attention_mask, cache=None):
    """The book's ``Qwen3Model.forward``, step for step, for a left-padded
    batch; ``attention_mask`` (bool, batch x n_keys) covers the cache's
    positions and the new tokens'."""
    model = getattr(model, "_orig_mod", model)  # torch.compile(model) too
    x = model.tok_emb(token_ids)  # (batch, n_tokens, emb_dim)
    num_tokens = x.shape[1]
    pos_start = model.current_pos if cache is not None else 0
    pos_end = pos_start + num_tokens
    if cache is not None:
        model.current_pos = pos_end
    # True where attention is blocked, as in the book's mask
    mask = ~attention_allowed(attention_mask, pos_start, pos_end)
    for i, block in enumerate(model.trf_blocks):  # mask: (batch, 1, n, keys)
        blk_cache = cache.get(i) if cache else None
        x, new_blk_cache = block(x, mask, model.cos, model.sin,
                                 start_pos=pos_start, cache=blk_cache)
        if cache is not None:
            cache.update(i, new_blk_cache)
    x = model.final_norm(x)
    return model.out_head(x.to(model.cfg["dtype"]))
