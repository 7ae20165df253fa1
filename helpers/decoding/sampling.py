"""The sampling filters as public functions that check what they are
given (bonus notebook ``ch02/02_decoding-strategies``).

Each takes logits (batch, vocab_size) and returns logits of the same
shape, with the tokens it removes at -inf, so filters compose. The loop
applies them in Hugging Face's order: repetition penalty, temperature,
top-k, top-p, min-p (``logits_process.py``).
"""

import math

import torch

from .config import check_option
from .filters import keep_min_p, keep_top_k, keep_top_p, penalize_repeats
from .validation import check_token_range, is_real


def check_logits(logits, name):
    """``logits`` must be a floating-point (batch, vocab_size) tensor."""
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
    kind = torch.device(device).type
    if generator.device.type != kind:
        raise ValueError(
            f"generator is on {generator.device.type} but the model runs "
            f"on {kind}; create it there: torch.Generator(device={kind!r})."
        )


def apply_temperature(logits, temperature):
    """Divide the logits by ``temperature`` (> 0): below 1 the
    distribution gets sharper (closer to greedy), above 1 flatter."""
    check_logits(logits, "apply_temperature")
    if not is_real(temperature) or not 0 < temperature < math.inf:
        raise ValueError(
            f"apply_temperature needs a finite temperature > 0, got "
            f"{temperature!r}; temperature 0 means greedy decoding "
            "(argmax)."
        )
    return logits / temperature


def top_k_filter(logits, top_k):
    """Keep the ``top_k`` highest logits per row; -inf for the rest."""
    check_logits(logits, "top_k_filter")
    check_option("top_k", top_k)
    return keep_top_k(logits, top_k)


def top_p_filter(logits, top_p):
    """Keep the smallest set of most probable tokens whose probabilities
    add up to at least ``top_p`` (nucleus sampling); -inf for the rest.
    The token that crosses ``top_p`` stays, so one token always does:
    the tokens Hugging Face's ``TopPLogitsWarper`` keeps."""
    check_logits(logits, "top_p_filter")
    check_option("top_p", top_p)
    return keep_top_p(logits, top_p)


def min_p_filter(logits, min_p):
    """Keep the tokens at least ``min_p`` times as probable as the most
    probable one; -inf for the rest. A peaked distribution keeps a few
    tokens, a flat one many (Hugging Face's ``MinPLogitsWarper``)."""
    check_logits(logits, "min_p_filter")
    check_option("min_p", min_p)
    return keep_min_p(logits, min_p)


def apply_repetition_penalty(logits, token_ids, penalty):
    """Make every token of ``token_ids`` (batch, n_tokens), the text so
    far, less likely: its logit divided by ``penalty`` if positive,
    multiplied if negative (the CTRL paper's rule, as Hugging Face's
    ``RepetitionPenaltyLogitsProcessor``). 1.0 changes nothing."""
    check_logits(logits, "apply_repetition_penalty")
    check_option("repetition_penalty", penalty)
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
