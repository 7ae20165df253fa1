"""Argument checks shared by the generation functions beyond the book.

Bad input fails here, when the function is called, with a message that
names the argument and the fix, not with a traceback from deep inside
torch.
"""

import numbers
from contextlib import contextmanager

import torch


def check_generation_args(model, token_ids, max_new_tokens,
                          eos_token_id=None):
    """Check the common arguments; return the EOS ids as a tuple (empty
    when ``eos_token_id`` is None)."""
    if not isinstance(token_ids, torch.Tensor):
        raise TypeError(
            "token_ids must be a torch.Tensor of shape (batch, n_tokens), "
            f"got {type(token_ids).__name__}; use "
            "torch.tensor(tokenizer.encode(prompt)).unsqueeze(0)."
        )
    if token_ids.dim() != 2:
        raise ValueError(
            "token_ids must have shape (batch, n_tokens), got shape "
            f"{tuple(token_ids.shape)}; add the batch dimension with "
            ".unsqueeze(0)."
        )
    if token_ids.dtype.is_floating_point or token_ids.dtype == torch.bool:
        raise TypeError(
            "token_ids must hold integer ids, got dtype "
            f"{token_ids.dtype}; build it with torch.tensor(ids) from a "
            "list of ints."
        )
    if token_ids.shape[1] == 0:
        raise ValueError(
            "token_ids is empty: give the model at least one prompt token."
        )
    check_non_negative_int("max_new_tokens", max_new_tokens)
    check_context_length(model, token_ids.shape[1], max_new_tokens)
    return eos_ids(eos_token_id, _config(model).get("vocab_size"))


def eos_ids(eos_token_id, vocab_size=None):
    """``eos_token_id`` (None, an int, or a list of ints) as a tuple."""
    if eos_token_id is None:
        return ()
    ids = [eos_token_id] if is_int(eos_token_id) else eos_token_id
    if (not isinstance(ids, (list, tuple)) or not ids
            or not all(map(is_int, ids))):
        raise TypeError(
            "eos_token_id must be an int, a list of ints, or None, got "
            f"{eos_token_id!r}; use tokenizer.eos_token_id."
        )
    for token in ids:
        if token < 0 or (vocab_size is not None and token >= vocab_size):
            raise ValueError(
                f"eos_token_id {token} is not a token of the model's "
                f"vocabulary (0 to {vocab_size - 1 if vocab_size else '?'}"
                "); use tokenizer.eos_token_id."
            )
    return tuple(int(token) for token in ids)


def check_context_length(model, n_prompt, max_new_tokens):
    """Prompt and answer must fit the model's context length."""
    context = _config(model).get("context_length")
    if context is None or n_prompt + max_new_tokens <= context:
        return
    if n_prompt >= context:
        raise ValueError(
            f"the prompt has {n_prompt} tokens, but the model's context "
            f"length is {context}: shorten the prompt."
        )
    raise ValueError(
        f"the prompt has {n_prompt} tokens and max_new_tokens is "
        f"{max_new_tokens}, {n_prompt + max_new_tokens} in all, but the "
        f"model's context length is {context}: use max_new_tokens <= "
        f"{context - n_prompt}, or a shorter prompt."
    )


def _config(model):
    cfg = getattr(model, "cfg", None)  # compiled models pass it through
    return cfg if isinstance(cfg, dict) else {}


def check_non_negative_int(name, value):
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")


def is_int(value):
    """An integer, but not a bool (True would otherwise count as 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, bool
    )


@contextmanager
def eval_mode(model):
    """Run ``model`` in evaluation mode (no dropout), then give every
    submodule back the mode the caller had set, training included."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
