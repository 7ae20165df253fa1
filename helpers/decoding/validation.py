"""The checks that need the model: the prompts' ids, device and length,
and the token ids of the options. Bad input fails at the call, with a
message that names the argument and the fix."""

import numbers
from contextlib import contextmanager

import torch


def check_generation_args(model, token_ids, config):
    """Check the prompts ``token_ids`` and the token ids of ``config`` (a
    ``GenerationConfig``, which checked its own values) against
    ``model``."""
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
    if token_ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(
            "token_ids must hold int64 token ids, got dtype "
            f"{token_ids.dtype}; build it with torch.tensor(ids) from a "
            "list of ints, or convert it with token_ids.long()."
        )
    if 0 in token_ids.shape:
        raise ValueError(
            f"token_ids is empty (shape {tuple(token_ids.shape)}): give "
            "the model at least one prompt of at least one token."
        )
    parameter = next(model.parameters(), None)
    if parameter is not None and token_ids.device != parameter.device:
        raise ValueError(
            f"token_ids are on {token_ids.device}, the model on "
            f"{parameter.device}: use "
            f"token_ids.to({str(parameter.device)!r})."
        )
    vocab_size = model_vocab_size(model)
    check_token_range("token_ids", token_ids, vocab_size)
    check_context_length(model, token_ids.shape[1], config.max_new_tokens)
    for token in config.eos:
        check_token_id("eos_token_id", token, vocab_size)
    for sequence in config.sequences:
        for token in sequence:
            check_token_id("stop_sequences", token, vocab_size,
                           "encode the stop text with the model's "
                           "tokenizer")
    if config.pad is not None:
        check_token_id("pad_token_id", config.pad, vocab_size)


def check_token_range(name, token_ids, vocab_size):
    """Every id must index the embedding: 0 <= id < vocab_size."""
    if token_ids.is_meta:
        raise ValueError(
            f"{name} are on the meta device, which holds no values: build "
            "them on the model's device."
        )
    low, high = int(token_ids.min()), int(token_ids.max())
    if low < 0 or (vocab_size is not None and high >= vocab_size):
        raise ValueError(
            f"{name} holds {low if low < 0 else high}, which is not a "
            "token of the model's vocabulary (0 to "
            f"{vocab_size - 1 if vocab_size else '?'}): encode the prompt "
            "with the model's own tokenizer."
        )


def check_token_id(name, token, vocab_size=None,
                   fix="use tokenizer.eos_token_id"):
    """One token id (an int) must be in the model's vocabulary."""
    if not is_int(token):
        raise TypeError(f"{name} must be an int, got {token!r}.")
    if token < 0 or (vocab_size is not None and token >= vocab_size):
        raise ValueError(
            f"{name} {token} is not a token of the model's vocabulary "
            f"(0 to {vocab_size - 1 if vocab_size else '?'}); {fix}."
        )


def eos_ids(eos_token_id):
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
        check_token_id("eos_token_id", token)
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


def model_vocab_size(model):
    """The model's vocabulary size, or None if its config does not say."""
    return _config(model).get("vocab_size")


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
        value, bool)


def is_real(value):
    """A real number, but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@contextmanager
def eval_mode(model):
    """Run ``model`` in evaluation mode (no dropout), then give every
    submodule back the mode the caller had set."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
