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
        for fn, value in ((_top_k, config.top_k), (_top_p, config.top_p),
                          (_min_p, config.min_p)):
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
