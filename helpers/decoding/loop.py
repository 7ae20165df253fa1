"""The one decoding loop: ``generate``, ``generate_stream`` and the
backend they run on (bonus notebook ``ch02/02_decoding-strategies``,
``ch02-generate`` and ``FastGenerator``).

``generate_stream`` is the book's loop (Listing 2.4) with the options
transformers users know; with the defaults it is the book's greedy loop.
Every call builds a ``GenerationConfig`` (which checks the options), its
logits processors and stopping criteria, then runs on a backend: the
book's model (``BookBackend``) or a ``FastGenerator`` in its place.
"""

from collections import namedtuple

import torch

from .backend import Backend, CacheClaim
from .book_backend import BookBackend
from .config import make_config
from .logits_process import logits_processors, next_token
from .padding import check_attention_mask
from .sampling import check_generator
from .stopping import stopping_criteria
from .validation import check_generation_args, eval_mode

GenerateOutput = namedtuple("GenerateOutput", ["sequences", "scores"])
GenerateOutput.__doc__ = (
    "``generate(..., output_scores=True)``: the new tokens (batch, n_new) "
    "and the log-probability of each (batch, n_new), under the "
    "distribution it was chosen from, as transformers' "
    "compute_transition_scores(..., normalize_logits=True) gives them.")


def _backend(model, use_cache):
    """The book's model runs on a ``BookBackend``; a ``FastGenerator`` is
    a ``Backend`` itself."""
    if isinstance(model, Backend):
        if not use_cache:
            raise ValueError(
                "a FastGenerator always uses its KV cache: leave "
                "use_cache=True, or pass the model itself."
            )
        return model
    return BookBackend(model, use_cache)


def prepare(model, token_ids, config, *, tokenizer=None, generator=None,
            use_cache=True, attention_mask=None):
    """Check what depends on the model and the prompts; return the
    backend, the padding mask (or None), the processors and the
    criteria."""
    backend = _backend(model, use_cache)
    check_generation_args(backend.model, token_ids, config)
    check_generator(generator, token_ids.device)
    batch, n_tokens = token_ids.shape
    if (config.pad is None and (config.sequences or config.strings)
            and batch > 1):
        raise ValueError(
            "a batch with stop strings or stop sequences needs a token id "
            "to pad finished rows: pass eos_token_id or pad_token_id."
        )
    mask = check_attention_mask(attention_mask, token_ids, config.pad)
    backend.check(max(batch, config.num_beams), n_tokens,
                  config.max_new_tokens)
    processors = logits_processors(config)
    criteria = stopping_criteria(config, tokenizer, token_ids)
    return backend, mask, processors, criteria


@torch.inference_mode()
def _decode(backend, token_ids, mask, config, processors, criteria,
            generator, check_every=1):
    """Yield, per step, the new tokens (batch, 1) and their
    log-probabilities (batch, 1), or None without ``output_scores``.

    A row that stops gets ``config.pad`` from then on. With
    ``check_every=1`` the loop ends as soon as every row has stopped,
    before a last EOS (the book's rule) or after a stop text; with more,
    the host asks only every ``check_every`` steps (each question waits
    for the device) and the caller cuts what came after the last EOS.
    The model runs in eval mode; the caller's mode is back at the end.
    """
    with CacheClaim(backend), eval_mode(backend.model):
        yield from _steps(backend, token_ids, mask, config, processors,
                          criteria, generator, check_every)


def _steps(backend, token_ids, mask, config, processors, criteria,
           generator, check_every):
    pad = config.pad
    finished = torch.zeros(token_ids.shape[0], 1, dtype=torch.bool,
                           device=token_ids.device)
    seen = token_ids  # (batch, n_tokens): the text so far, for the penalty
    if mask is not None:  # padding is not text: in its place, each row's
        # last prompt token, which the penalty counts anyway
        seen = torch.where(mask, token_ids, token_ids[:, -1:])
    uses_seen = config.repetition_penalty != 1.0
    # The backend's own argmax serves when nothing changes the logits
    plain_greedy = not processors and not config.do_sample
    logits, greedy = backend.prefill(token_ids, mask)  # (batch, vocab)
    for step in range(config.max_new_tokens):
        if plain_greedy and greedy is not None and not config.output_scores:
            token, processed = greedy, None  # (batch, 1)
        else:
            token, processed = next_token(logits, processors, seen,
                                          generator, config.do_sample)
        if criteria:  # without any, the host never waits for the device
            if pad is not None:
                token = token.masked_fill(finished, pad)
            before = torch.zeros_like(finished)  # stops before its token
            after = torch.zeros_like(finished)  # stops after it
            for criterion in criteria:
                hit = criterion(token) & ~finished
                if criterion.keeps_token:
                    after |= hit
                else:
                    before |= hit
            after &= ~before
            finished |= before | after
            if (check_every == 1 or (step + 1) % check_every == 0) and bool(
                finished.all()
            ):
                if check_every > 1 or bool(after.any()):
                    yield token, _score(processed, logits, token, config)
                return
        yield token, _score(processed, logits, token, config)
        if uses_seen:
            seen = torch.cat([seen, token], dim=1)
        if step + 1 < config.max_new_tokens:  # no step after the last
            logits, greedy = backend.step(token)


def _score(processed, logits, token, config):
    """log p(token) under the distribution it came from (batch, 1)."""
    if not config.output_scores:
        return None
    if processed is None:
        processed = logits
    return torch.log_softmax(processed.float(), dim=-1).gather(-1, token)


def generate_stream(model, token_ids, max_new_tokens=None, *, config=None,
                    tokenizer=None, generator=None, use_cache=True,
                    attention_mask=None, **options):
    """Yield one (batch, 1) tensor of token ids per step.

    ``model`` is the book's ``Qwen3Model`` (with its ``KVCache``, or
    without: ``use_cache=False``) or a ``FastGenerator``. The options
    come as keywords or as one ``config`` (``GenerationConfig`` says what
    each does); stop strings need the ``tokenizer``; sampling draws from
    ``generator``. Prompts padded on the left go with their
    ``attention_mask`` (see ``helpers.left_pad``). Everything is checked
    at the call, before the first token.
    """
    config = make_config(config, max_new_tokens, options, "generate_stream")
    if config.output_scores:
        raise ValueError("generate_stream yields tokens only: use "
                         "generate(..., output_scores=True) for scores.")
    backend, mask, processors, criteria = prepare(
        model, token_ids, config, tokenizer=tokenizer, generator=generator,
        use_cache=use_cache, attention_mask=attention_mask,
    )
    return (token for token, _ in _decode(
        backend, token_ids, mask, config, processors, criteria, generator))


def generate(model, token_ids, max_new_tokens=None, *, config=None,
             tokenizer=None, generator=None, use_cache=True,
             attention_mask=None, **options):
    """Like ``generate_stream``, but return the new tokens (batch, n_new)
    at once; with ``output_scores=True`` a ``GenerateOutput(sequences,
    scores)``, each token's log-probability under the distribution it
    was drawn from."""
    config = make_config(config, max_new_tokens, options, "generate")
    backend, mask, processors, criteria = prepare(
        model, token_ids, config, tokenizer=tokenizer, generator=generator,
        use_cache=use_cache, attention_mask=attention_mask,
    )
    # Asking the device less often is safe when only EOS ends a row: what
    # comes after the last EOS is cut below
    only_eos = not (config.sequences or config.strings)
    check_every = backend.check_every if only_eos else 1
    steps = list(_decode(backend, token_ids, mask, config, processors,
                         criteria, generator, check_every))
    sequences = collect_stream((t for t, _ in steps), token_ids)
    scores = None
    if config.output_scores:
        scores = collect_stream((s for _, s in steps),
                                token_ids.new_empty(
                                    token_ids.shape, dtype=torch.float))
    if check_every > 1:
        end = _end_of_last_eos(sequences, config.eos)
        sequences = sequences[:, :end]
        scores = None if scores is None else scores[:, :end]
    if config.output_scores:
        return GenerateOutput(sequences, scores)
    return sequences


def _end_of_last_eos(out, eos):
    """The step at which the last row produced its first EOS: the loop
    with ``check_every=1`` stops before it, and so the output ends."""
    if not eos:
        return out.shape[1]
    is_eos = torch.isin(out, torch.tensor(eos, device=out.device))
    if not bool(is_eos.any(dim=1).all()):
        return out.shape[1]
    return int(is_eos.float().argmax(dim=1).max())


def collect_stream(stream, token_ids):
    """Concatenate a stream of (batch, 1) tensors into (batch, n_new);
    (batch, 0) when the stream is empty."""
    tokens = list(stream)
    if tokens:
        return torch.cat(tokens, dim=1)
    return token_ids[:, :0]
