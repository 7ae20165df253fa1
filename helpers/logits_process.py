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
check nothing. ``sampling.py`` has the same filters as public functions.
"""

import torch

from .sampling import _min_p, _repetition_penalty, _top_k, _top_p


class RepetitionPenalty:
    """Divide (or multiply, if negative) the logits of tokens seen so far
    by ``penalty``, in float32 as transformers does."""

    uses_seen = True

    def __init__(self, penalty):
        self.penalty = penalty

    def __call__(self, seen, logits):
        return _repetition_penalty(logits.float(), seen, self.penalty)


class Temperature:
    uses_seen = False

    def __init__(self, temperature):
        self.temperature = temperature

    def __call__(self, seen, logits):
        return logits.float() / self.temperature


class TopK:
    uses_seen = False

    def __init__(self, top_k):
        self.top_k = top_k

    def __call__(self, seen, logits):
        return _top_k(logits, self.top_k)


class TopP:
    uses_seen = False

    def __init__(self, top_p):
        self.top_p = top_p

    def __call__(self, seen, logits):
        return _top_p(logits, self.top_p)


class MinP:
    uses_seen = False

    def __init__(self, min_p):
        self.min_p = min_p

    def __call__(self, seen, logits):
        return _min_p(logits, self.min_p)


def logits_processors(config):
    """The processors that ``config`` (a ``GenerationConfig``) asks for,
    in the order they apply; an empty list for the book's greedy loop."""
    processors = []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(config.repetition_penalty))
    if config.do_sample:
        processors.append(Temperature(config.temperature))
        if config.top_k is not None:
            processors.append(TopK(config.top_k))
        if config.top_p is not None:
            processors.append(TopP(config.top_p))
        if config.min_p is not None:
            processors.append(MinP(config.min_p))
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
