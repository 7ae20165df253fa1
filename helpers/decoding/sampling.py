"""The sampling settings' checks, and the filters as public functions
that check what they are given: repetition penalty, temperature, top-k,
top-p and min-p (bonus notebook ``ch02/02_decoding-strategies``).

Each filter takes logits of shape (batch, vocab_size) and returns logits of
the same shape, with the tokens it removes set to -inf, so filters compose.
``sample_next_token`` (``logits_process.py``) applies them in the order
Hugging Face uses: repetition penalty -> temperature -> top-k -> top-p ->
min-p.
"""

import math
import numbers

import torch

from .filters import (
    keep_min_p,
    keep_top_k,
    keep_top_p,
    penalize_repeats,
)
from .validation import check_token_range, is_int

# Below this, dividing logits by the temperature (or by the penalty)
# can overflow float32 into inf, and sampling into NaN
SMALLEST = 1e-6


def check_sampling_args(temperature=0.0, top_k=None, top_p=None,
                        min_p=None, repetition_penalty=1.0):
    """Raise a clear error for settings outside their valid range."""
    if (not _is_finite_number(temperature) or temperature < 0
            or 0 < temperature < SMALLEST):
        raise ValueError(
            f"temperature must be 0 or a number >= {SMALLEST:g}, got "
            f"{temperature!r}; use 0 for greedy decoding, about 0.7-1.0 "
            "for varied text."
        )
    if top_k is not None:
        _check_top_k(top_k)
    if top_p is not None:
        _check_top_p(top_p)
    if min_p is not None:
        _check_min_p(min_p)
    _check_repetition_penalty(repetition_penalty)


def _is_finite_number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_top_k(top_k):
    if not is_int(top_k) or top_k < 1:
        raise ValueError(
            f"top_k must be an integer >= 1, got {top_k!r}; "
            "for example top_k=50."
        )


def _check_top_p(top_p):
    if (not isinstance(top_p, numbers.Real) or isinstance(top_p, bool)
            or not 0 < top_p <= 1):  # also refuses NaN
        raise ValueError(
            f"top_p must be a number with 0 < top_p <= 1, got "
            f"{top_p!r}; for example top_p=0.9."
        )


def _check_min_p(min_p):
    if (not isinstance(min_p, numbers.Real) or isinstance(min_p, bool)
            or not 0 <= min_p <= 1):  # also refuses NaN
        raise ValueError(
            f"min_p must be a number with 0 <= min_p <= 1, got "
            f"{min_p!r}; for example min_p=0.05."
        )


def _check_repetition_penalty(penalty):
    if not _is_finite_number(penalty) or penalty < SMALLEST:
        raise ValueError(
            f"repetition_penalty must be a finite number >= {SMALLEST:g}, "
            "got "
            f"{penalty!r}; 1.0 changes nothing, about 1.1-1.3 discourages "
            "repeating the tokens of the text so far."
        )


def check_logits(logits, name):
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        kind = (f"a {logits.dtype} tensor" if isinstance(logits, torch.Tensor)
                else type(logits).__name__)
        raise TypeError(
            f"{name} needs logits as a floating-point tensor, got {kind}; "
            "pass the model's output, for example model(token_ids)[:, -1]."
        )
    if logits.dim() != 2:
        raise ValueError(
            f"logits must have shape (batch, vocab_size), got "
            f"{tuple(logits.shape)}; take the last position with "
            "logits[:, -1]."
        )


def check_generator(generator, device):
    """A ``torch.Generator`` must live on the device it draws for."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got "
            f"{type(generator).__name__}; for example "
            "torch.Generator().manual_seed(123)."
        )
    if generator.device.type != torch.device(device).type:
        raise ValueError(
            f"generator is on {generator.device.type} but the model runs "
            f"on {torch.device(device).type}; create it there: "
            f"torch.Generator(device={torch.device(device).type!r})."
        )


def apply_temperature(logits, temperature):
    """Divide the logits by ``temperature`` (> 0).

    Below 1 the distribution gets sharper (closer to greedy), above 1
    flatter (more random).
    """
    check_logits(logits, "apply_temperature")
    if not _is_finite_number(temperature) or temperature <= 0:
        raise ValueError(
            f"apply_temperature needs a finite temperature > 0, got "
            f"{temperature!r}; temperature 0 means greedy decoding "
            "(argmax)."
        )
    return logits / temperature


def top_k_filter(logits, top_k):
    """Keep the ``top_k`` highest logits per row; -inf for the rest."""
    check_logits(logits, "top_k_filter")
    _check_top_k(top_k)
    return keep_top_k(logits, top_k)


def top_p_filter(logits, top_p):
    """Keep the smallest set of most probable tokens whose probabilities
    add up to at least ``top_p`` (nucleus sampling); -inf for the rest.

    The token that crosses ``top_p`` is kept, so at least one token always
    survives. The same tokens as Hugging Face's ``TopPLogitsWarper``,
    which sorts the whole vocabulary; here only the most likely
    ``filters.TOP_P_CANDIDATES`` are sorted, unless the nucleus needs
    more or a token lies within rounding distance of the threshold.
    """
    check_logits(logits, "top_p_filter")
    _check_top_p(top_p)
    return keep_top_p(logits, top_p)


def min_p_filter(logits, min_p):
    """Keep the tokens at least ``min_p`` times as probable as the most
    probable one (min-p sampling); -inf for the rest.

    The cut follows the model's confidence: a peaked distribution keeps a
    few tokens, a flat one many. The same tokens as Hugging Face's
    ``MinPLogitsWarper``; the most probable token always stays.
    """
    check_logits(logits, "min_p_filter")
    _check_min_p(min_p)
    return keep_min_p(logits, min_p)


def apply_repetition_penalty(logits, token_ids, penalty):
    """Make every token that occurs in ``token_ids`` (batch, n_tokens),
    the text so far, less likely: its logit is divided by ``penalty`` if
    positive, multiplied if negative (the CTRL paper's rule, as Hugging
    Face's ``RepetitionPenaltyLogitsProcessor``). 1.0 changes nothing.
    """
    check_logits(logits, "apply_repetition_penalty")
    _check_repetition_penalty(penalty)
    if (not isinstance(token_ids, torch.Tensor) or token_ids.dim() != 2
            or token_ids.shape[0] != logits.shape[0]
            or token_ids.dtype not in (torch.int64, torch.int32)):
        raise ValueError(
            "apply_repetition_penalty needs token_ids as an integer tensor "
            f"of shape (batch, n_tokens) with batch {logits.shape[0]}, as "
            "the logits; pass the prompt and the tokens generated so far."
        )
    check_token_range("token_ids", token_ids, logits.shape[-1])
    return penalize_repeats(logits, token_ids, penalty)
