"""Beyond the book: the options that change the next token's logits, as a
list of processors built once per call (transformers'
``LogitsProcessorList``).

Each processor takes the text so far ``seen`` (batch, n_tokens) and the
logits (batch, vocab_size) and returns new logits; the loop applies them
in order, then takes the argmax (greedy) or draws a token. The order is
transformers': repetition penalty, then, when sampling, temperature,
top-k, top-p and min-p. Greedy decoding skips the sampling filters, as
transformers does: they never remove the most probable token, and the
scores of greedy decoding are those of the penalized logits.

The values were checked by ``GenerationConfig``; these run per token and
check nothing. ``sampling.py`` has the same filters as public functions,
with checks.
"""

import torch

from .config import GenerationConfig
from .filters import (
    keep_min_p,
    keep_top_k,
    keep_top_p,
    penalize_repeats,
)
from .sampling import check_generator, check_logits


class RepetitionPenalty:
    """Divide (or multiply, if negative) the logits of tokens seen so far
    by ``penalty``, in float32 as transformers does."""

    uses_seen = True

    def __init__(self, penalty):
        self.penalty = penalty

    def __call__(self, seen, logits):
        return penalize_repeats(logits.float(), seen, self.penalty)


class Warper:
    """A sampling filter with its value: ``fn(logits, value)``."""

    uses_seen = False

    def __init__(self, fn, value):
        self.fn, self.value = fn, value

    def __call__(self, seen, logits):
        return self.fn(logits, self.value)


def _temperature(logits, temperature):
    return logits.float() / temperature


def logits_processors(config):
    """The processors that ``config`` (a ``GenerationConfig``) asks for,
    in the order they apply; an empty list for the book's greedy loop."""
    processors = []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(config.repetition_penalty))
    if config.do_sample:
        processors.append(Warper(_temperature, config.temperature))
        for fn, value in ((keep_top_k, config.top_k),
                          (keep_top_p, config.top_p),
                          (keep_min_p, config.min_p)):
            if value is not None:
                processors.append(Warper(fn, value))
    return processors


def next_token(logits, processors, seen, generator, do_sample):
    """Apply ``processors`` to ``logits`` (batch, vocab_size); return the
    chosen tokens (batch, 1) and the processed logits, whose
    log-softmax is the distribution the token came from."""
    for process in processors:
        logits = process(seen, logits)
    if not do_sample:
        return torch.argmax(logits, dim=-1, keepdim=True), logits
    probas = torch.softmax(logits, dim=-1)
    token = torch.multinomial(probas, num_samples=1, generator=generator)
    return token, logits


def sample_next_token(logits, temperature=0.0, top_k=None, top_p=None,
                      generator=None, *, min_p=None):
    """Pick the next token id for each row: (batch, vocab) -> (batch, 1).

    ``temperature=0`` is greedy decoding (argmax). Otherwise the logits are
    divided by the temperature, filtered by top-k, top-p and min-p, and a
    token is drawn from the renormalized distribution, using ``generator``
    (a ``torch.Generator``) for reproducible draws. (A repetition penalty
    needs the text so far: ``apply_repetition_penalty`` comes first.)
    """
    # The one chain of processors that generate uses; the config checks
    # the values
    config = GenerationConfig(1, temperature=temperature, top_k=top_k,
                              top_p=top_p, min_p=min_p)
    check_logits(logits, "sample_next_token")
    check_generator(generator, logits.device)
    no_choice = torch.isnan(logits).any(-1) | torch.isneginf(logits).all(-1)
    if bool(no_choice.any()):
        rows = no_choice.nonzero().flatten().tolist()
        raise ValueError(
            f"sample_next_token: the logits of row(s) {rows} hold NaN or "
            "only -inf, so no token can be chosen; check the model's "
            "output (NaN weights?) and the filters applied before."
        )
    # Greedy: no processors (filters never remove the most likely token,
    # so they cannot change the argmax)
    token, _ = next_token(logits, logits_processors(config), None,
                          generator, config.do_sample)
    return token
