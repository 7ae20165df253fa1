"""The options that change the next token's logits, as a list of
processors built once per call (transformers' ``LogitsProcessorList``).

A processor takes the text so far ``seen`` (batch, n_tokens) and the
logits (batch, vocab_size) and returns new logits. The order is
transformers': repetition penalty, then, when sampling, temperature,
top-k, top-p and min-p. Greedy decoding skips the sampling filters, as
transformers does: they never remove the most probable token. The values
were checked by ``GenerationConfig``: nothing is checked per token.
"""

import functools

import torch

from .config import GenerationConfig
from .filters import keep_min_p, keep_top_k, keep_top_p, penalize_repeats
from .sampling import check_generator, check_logits


def _filter(keep, value, seen, logits):
    return keep(logits, value)


def logits_processors(config):
    """The processors that ``config`` asks for, in the order they apply;
    none for the book's greedy loop. Penalty and temperature work in
    float32, as transformers does."""
    processors = []
    penalty, temperature = config.repetition_penalty, config.temperature
    if penalty != 1.0:
        processors.append(
            lambda seen, logits: penalize_repeats(logits.float(), seen,
                                                  penalty))
    if config.do_sample:
        processors.append(lambda seen, logits: logits.float() / temperature)
        for keep, value in ((keep_top_k, config.top_k),
                            (keep_top_p, config.top_p),
                            (keep_min_p, config.min_p)):
            if value is not None:
                processors.append(functools.partial(_filter, keep, value))
    return processors


def next_token(logits, processors, seen, generator, do_sample):
    """Apply ``processors`` to ``logits`` (batch, vocab_size); return the
    chosen tokens (batch, 1) and the processed logits, whose log-softmax
    is the distribution the token came from."""
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
    token is drawn from what remains, from ``generator`` if given (a
    ``torch.Generator``, for reproducible draws). A repetition penalty
    needs the text so far: ``apply_repetition_penalty`` comes first.
    """
    config = GenerationConfig(1, temperature=temperature, top_k=top_k,
                              top_p=top_p, min_p=min_p)  # checks them
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
    token, _ = next_token(logits, logits_processors(config), None,
                          generator, config.do_sample)
    return token
