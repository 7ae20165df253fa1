"""The one decoding loop: sampling, stop strings, scores, batches and
beam search (bonus notebook ``ch02/02_decoding-strategies``, the
``ch02-generate`` command and ``FastGenerator``).

``generate_stream`` extends the book's loop (Listing 2.4) with the options
Hugging Face transformers users know: ``temperature``, ``top_k``,
``top_p``, ``min_p``, ``repetition_penalty``, ``eos_token_id`` (one id or
several), ``stop_strings`` with a ``tokenizer``, a seeded ``generator``,
left-padded batches with an ``attention_mask``, and the log-probability
of each chosen token (``generate(..., output_scores=True)``). With the
defaults it is the book's greedy loop. ``beam_search`` follows
transformers' ``generate(num_beams=...)``: the same tokens and scores.

Every call builds a ``GenerationConfig`` (which checks the options), a
list of logits processors and a list of stopping criteria, then runs
``_decode`` on a backend: the book's model (``BookBackend``) or a
``FastGenerator``, passed in place of the model.
"""

from collections import namedtuple

import torch

from .book_backend import BookBackend
from .generation_config import GenerationConfig
from .logits_process import logits_processors, next_token
from .padding import check_attention_mask
from .sampling import check_generator
from .stopping_criteria import stopping_criteria
from .validation import (
    check_generation_args,
    check_token_id,
    eval_mode,
    model_vocab_size,
)

GenerateOutput = namedtuple("GenerateOutput", ["sequences", "scores"])
GenerateOutput.__doc__ = (
    "``generate(..., output_scores=True)``: the new tokens (batch, n_new) "
    "and the log-probability of each (batch, n_new), under the "
    "distribution it was chosen from, as transformers' "
    "compute_transition_scores(..., normalize_logits=True) gives them.")


def _backend(model, use_cache):
    """The book's model runs on a ``BookBackend``; a ``FastGenerator`` is
    a backend itself."""
    if hasattr(model, "prefill") and hasattr(model, "step"):
        if not use_cache:
            raise ValueError(
                "a FastGenerator always uses its KV cache: leave "
                "use_cache=True, or pass the model itself."
            )
        return model
    return BookBackend(model, use_cache)


def _prepare(model, token_ids, config, *, tokenizer=None, generator=None,
             use_cache=True, attention_mask=None):
    """Check what depends on the model and the prompts; return the
    backend, the padding mask (or None), the processors and the
    criteria."""
    backend = _backend(model, use_cache)
    check_generation_args(backend.model, token_ids, config.max_new_tokens,
                          config.eos_token_id)
    check_generator(generator, token_ids.device)
    pad = config.pad
    if pad is not None:
        check_token_id("pad_token_id", pad, model_vocab_size(backend.model))
    batch, n_tokens = token_ids.shape
    if (pad is None and (config.sequences or config.strings)
            and batch > 1):
        raise ValueError(
            "a batch with stop strings or stop sequences needs a token id "
            "to pad finished rows: pass eos_token_id or pad_token_id."
        )
    mask = check_attention_mask(attention_mask, token_ids, pad)
    backend.check(max(batch, config.num_beams), n_tokens,
                  config.max_new_tokens)
    processors = logits_processors(config)
    criteria = stopping_criteria(config, tokenizer, token_ids)
    return backend, mask, processors, criteria


def _decode(backend, token_ids, mask, config, processors, criteria,
            generator, check_every=1):
    with eval_mode(backend.model):  # the caller's mode is back at the end
        yield from _decode_in_eval_mode(backend, token_ids, mask, config,
                                        processors, criteria, generator,
                                        check_every)


@torch.inference_mode()
def _decode_in_eval_mode(backend, token_ids, mask, config, processors,
                         criteria, generator, check_every):
    """Yield, per step, the new tokens (batch, 1) and their
    log-probabilities (batch, 1), or None without ``output_scores``.

    A row that stops gets ``config.pad`` from then on. With
    ``check_every=1`` the loop ends as soon as every row has stopped,
    before a last EOS (the book's rule) or after a stop text; with more,
    the host asks only every ``check_every`` steps (each question waits
    for the device) and the caller cuts what came after the last EOS.
    """
    pad = config.pad
    finished = torch.zeros(token_ids.shape[0], 1, dtype=torch.bool,
                           device=token_ids.device)
    seen = token_ids  # (batch, n_tokens): the text so far, for the penalty
    if mask is not None:  # padding is not text: in its place, each row's
        # last prompt token, which the penalty counts anyway
        seen = torch.where(mask, token_ids, token_ids[:, -1:])
    uses_seen = any(p.uses_seen for p in processors)
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


def generate_stream(model, token_ids, max_new_tokens, *, temperature=0.0,
                    top_k=None, top_p=None, eos_token_id=None,
                    stop_strings=None, tokenizer=None, stop_sequences=None,
                    generator=None, use_cache=True, pad_token_id=None,
                    min_p=None, repetition_penalty=1.0,
                    attention_mask=None):
    """Yield one (batch, 1) tensor of token ids per generation step.

    - ``model`` is the book's ``Qwen3Model`` (with its ``KVCache``, or
      without a cache: ``use_cache=False``) or a ``FastGenerator``.
    - Each step applies ``repetition_penalty`` to the tokens of the prompt
      (not its padding) and the output so far (greedy decoding included),
      then samples with ``temperature``, ``top_k``, ``top_p`` and
      ``min_p``, in transformers' order; ``temperature=0`` (the default)
      is greedy.
    - Stops before an ``eos_token_id`` (an int or a list of ints), as the
      book's loops do.
    - Stops after the token that completes one of ``stop_strings``
      (matched in the text, so it needs ``tokenizer``) or one of
      ``stop_sequences`` (lists of token ids); that token is part of the
      output, since it has been streamed.
    - In a batch, a row that has finished stops growing: it gets
      ``pad_token_id`` (default: the first EOS id) until every row is done.
    - Prompts of different lengths go in one batch padded on the left,
      with ``attention_mask`` (1 for tokens, 0 for padding; see
      ``helpers.left_pad``): each row gets the tokens it would get alone.

    Arguments are checked when it is called, before the first token.
    """
    config = GenerationConfig(
        max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
        min_p=min_p, repetition_penalty=repetition_penalty,
        eos_token_id=eos_token_id, pad_token_id=pad_token_id,
        stop_strings=stop_strings, stop_sequences=stop_sequences,
    )
    backend, mask, processors, criteria = _prepare(
        model, token_ids, config, tokenizer=tokenizer, generator=generator,
        use_cache=use_cache, attention_mask=attention_mask,
    )
    return (token for token, _ in _decode(
        backend, token_ids, mask, config, processors, criteria, generator))


def generate(model, token_ids, max_new_tokens, *, temperature=0.0,
             top_k=None, top_p=None, eos_token_id=None, stop_strings=None,
             tokenizer=None, stop_sequences=None, generator=None,
             use_cache=True, pad_token_id=None, min_p=None,
             repetition_penalty=1.0, attention_mask=None,
             output_scores=False):
    """Like ``generate_stream``, but return all new tokens at once as a
    (batch, n_new) tensor; with ``output_scores=True``, a
    ``GenerateOutput(sequences, scores)``, where ``scores`` (batch,
    n_new) holds each token's log-probability under the distribution it
    was chosen from (after the penalty and the sampling filters)."""
    config = GenerationConfig(
        max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
        min_p=min_p, repetition_penalty=repetition_penalty,
        eos_token_id=eos_token_id, pad_token_id=pad_token_id,
        stop_strings=stop_strings, stop_sequences=stop_sequences,
        output_scores=output_scores,
    )
    backend, mask, processors, criteria = _prepare(
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
    if output_scores:
        scores = collect_stream((s for _, s in steps),
                                token_ids.new_empty(
                                    token_ids.shape, dtype=torch.float))
    if check_every > 1:
        end = _end_of_last_eos(sequences, config.eos)
        sequences = sequences[:, :end]
        scores = None if scores is None else scores[:, :end]
    if output_scores:
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


# Beam search ----------------------------------------------------------------

# A score that never wins: transformers' "-1e9" for impossible candidates
_NEVER = -1.0e9


def beam_search(model, token_ids, max_new_tokens, beam_width=4,
                length_penalty=1.0, eos_token_id=None, early_stopping=False,
                attention_mask=None):
    """Return ``(best_token_ids, score)`` for one prompt, as Hugging Face
    transformers' ``generate(num_beams=beam_width, ...)`` finds them.

    - ``beam_width`` beams stay alive at every step: each step ranks the
      ``2 * beam_width`` best continuations of all beams (more with several
      EOS ids); those that end in EOS become finished *hypotheses* (if
      they rank among the first ``beam_width``), the best others continue.
    - A hypothesis scores its summed log-probability divided by
      ``n_tokens ** length_penalty``, EOS included: 0 compares raw sums
      (favours short answers), larger values favour longer ones.
    - ``early_stopping``: True stops once ``beam_width`` hypotheses are
      finished; False (the default) also stops then, but only when no
      live beam can still beat the worst of them at its current length;
      "never" stops only at ``max_new_tokens``, or, with a negative
      ``length_penalty``, when no live beam can win at all.

    All beams advance in one batched forward pass with a constant shape,
    (beam_width, 1), and the KV cache is reordered to follow them.
    ``model`` is the book's model or a ``FastGenerator`` (with
    ``max_batch_size >= beam_width``). ``best_token_ids`` has shape
    (1, n_new), without the final EOS, as the book's loops return it;
    ``score`` is transformers' ``sequences_scores``. A prompt padded on
    the left (``attention_mask`` 0 there) is searched without its padding.
    """
    config = GenerationConfig(
        max_new_tokens, num_beams=beam_width, length_penalty=length_penalty,
        eos_token_id=eos_token_id, early_stopping=early_stopping,
    )
    backend, mask, _, _ = _prepare(model, token_ids, config,
                                   attention_mask=attention_mask)
    if token_ids.shape[0] != 1:
        raise ValueError(
            "beam_search takes one prompt, shape (1, n_tokens), got batch "
            f"size {token_ids.shape[0]}; call it once per prompt."
        )
    if mask is not None:  # one row: its tokens alone are the same search
        token_ids = token_ids[:, mask[0]]
    if max_new_tokens == 0:
        return token_ids[:, :0], 0.0
    with eval_mode(backend.model), torch.inference_mode():
        return _BeamSearch(backend, token_ids, config).run()


class _BeamSearch:
    """The state of one beam search; ``run`` follows transformers'
    ``GenerationMixin._beam_search`` step by step."""

    def __init__(self, backend, token_ids, config):
        self.backend = backend
        self.prompt = token_ids
        self.max_new = config.max_new_tokens
        self.width = width = config.num_beams
        self.length_penalty = config.length_penalty
        self.early_stopping = config.early_stopping
        eos = config.eos
        device = token_ids.device
        self.eos = torch.tensor(eos, device=device) if eos else None
        # Candidates ranked per step: enough that `width` of them go on
        # even if the best ones all end in an EOS token
        self.n_candidates = max(2, 1 + len(eos)) * width
        # Live beams: tokens so far, summed log-probabilities. Only the
        # first counts at the start, so its continuations are not
        # repeated `width` times
        self.tokens = token_ids.new_empty(width, 0)
        self.scores = torch.full((width,), _NEVER, device=device)
        self.scores[0] = 0.0
        # Finished hypotheses: `width` slots, best first
        self.done_tokens = [token_ids.new_empty(0)] * width
        self.done_scores = torch.full((width,), _NEVER, device=device)
        self.done = torch.zeros(width, dtype=torch.bool, device=device)
        self.can_improve = True

    def run(self):
        # One prefill for the prompt, copied to every beam's cache
        logits, _ = self.backend.prefill(self.prompt)  # (1, vocab)
        self.backend.reorder(torch.zeros(self.width, dtype=torch.long,
                                         device=self.prompt.device))
        logits = logits.expand(self.width, -1)
        for step in range(self.max_new):
            parents = self._step(logits, step)
            if not self._going_on(step):
                break
            self.backend.reorder(parents)
            logits, _ = self.backend.step(self.tokens[:, -1:])
        best = self.done_tokens[0]
        if self.eos is not None and len(best) and torch.isin(best[-1],
                                                             self.eos):
            best = best[:-1]  # the book's loops leave EOS out
        return best[None], self.done_scores[0].item()

    def _step(self, logits, step):
        """Rank the candidates, update hypotheses and live beams; return
        each live beam's parent (the beam it continues)."""
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        vocab = logprobs.shape[-1]
        candidates = (logprobs + self.scores[:, None]).flatten()
        top, flat = torch.topk(candidates, self.n_candidates)
        parent, token = flat // vocab, flat % vocab
        tokens = torch.cat([self.tokens[parent], token[:, None]], dim=1)
        if step == self.max_new - 1:  # every candidate ends here
            stops = torch.ones_like(token, dtype=torch.bool)
        elif self.eos is not None:
            stops = torch.isin(token, self.eos)
        else:
            stops = torch.zeros_like(token, dtype=torch.bool)

        # Hypotheses: only the first `width` candidates may join
        normalized = top / (step + 1) ** self.length_penalty
        joins = stops.clone()
        joins[self.width:] = False
        full = bool(self.done.all()) and self.early_stopping is True
        if full or not self.can_improve:
            joins[:] = False
        normalized = torch.where(joins, normalized, normalized + _NEVER)
        merged = torch.cat([self.done_scores, normalized])
        keep = torch.topk(merged, self.width).indices.tolist()
        old = self.done_tokens
        self.done_tokens = [old[i] if i < self.width
                            else tokens[i - self.width] for i in keep]
        self.done_scores = merged[keep]
        self.done = torch.cat([self.done, joins])[keep]

        # Live beams: the best candidates that did not stop
        alive = top + stops.float() * _NEVER
        order = torch.topk(alive, self.width).indices
        self.tokens, self.scores = tokens[order], alive[order]
        return parent[order]

    def _going_on(self, step):
        """transformers' rule: go on while a live beam could still enter
        the hypotheses and a further step is possible."""
        if self.early_stopping == "never" and self.length_penalty > 0:
            best_length = self.max_new
        else:
            best_length = step + 1
        best_possible = self.scores[0] / best_length ** self.length_penalty
        worst_done = torch.where(self.done, self.done_scores.min(),
                                 torch.tensor(_NEVER))
        self.can_improve = self.can_improve and bool(
            (best_possible > worst_done).any()
        )
        if step == self.max_new - 1:
            return False
        if bool(self.done.all()) and self.early_stopping is True:
            return False
        return self.can_improve
