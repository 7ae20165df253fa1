"""Argument checks shared by the generation functions.

Bad input fails here with a message that names the argument and the fix,
not with a traceback from deep inside torch.
"""

import numbers

import torch


def check_generation_args(token_ids, max_new_tokens, eos_token_id=None):
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
    if eos_token_id is not None and not is_int(eos_token_id):
        raise TypeError(
            "eos_token_id must be an int or None, got "
            f"{eos_token_id!r}; use tokenizer.eos_token_id."
        )


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
