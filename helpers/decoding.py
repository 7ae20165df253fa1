"""Generation with sampling, stop strings and beam search (bonus notebook
``ch02/02_decoding-strategies`` and the ``ch02-generate`` command).

``generate_stream`` extends the book's loop (Listing 2.4) with the options
Hugging Face transformers users know: ``temperature``, ``top_k``,
``top_p``, ``min_p``, ``repetition_penalty``, ``eos_token_id`` (one id or
several), ``stop_strings`` with a ``tokenizer``, and a seeded
``generator``; batches of prompts work too.
With the defaults it is the book's greedy loop. ``beam_search`` follows
transformers' ``generate(num_beams=...)``: the same tokens and scores.
"""

import math

import torch
from reasoning_from_scratch.qwen3 import KVCache

from .padding import check_attention_mask, forward_with_mask
from .sampling import (
    _repetition_penalty,
    check_generator,
    check_sampling_args,
    sample_next_token,
)
from .stop_strings import StopStrings
from .validation import (
    check_generation_args,
    check_non_negative_int,
    check_token_id,
    eval_mode,
    is_int,
    model_vocab_size,
)


def _check_stop_sequences(stop_sequences):
    if stop_sequences is None:
        return []
    if isinstance(stop_sequences, (str, bytes)):
        raise TypeError(
            f"stop_sequences must be a list of lists of token ids, got "
            f"{stop_sequences!r}; for text, use stop_strings=[...] and "
            "tokenizer=tokenizer."
        )
    sequences = list(stop_sequences)  # a generator is read once, here
    if not all(isinstance(seq, (list, tuple)) and seq
               and all(map(is_int, seq)) for seq in sequences):
        raise TypeError(
            "stop_sequences must be a list of non-empty lists of token "
            f"ids, got {sequences!r}; for text, use stop_strings=[...] "
            "and tokenizer=tokenizer."
        )
    return [list(seq) for seq in sequences]


class _NextLogits:
    """Logits of the next token, with or without the KV cache; with
    ``mask`` (bool, batch x n_tokens), padding is hidden from attention."""

    def __init__(self, model, token_ids, use_cache, mask=None):
        self.model = model
        self.use_cache = use_cache
        self.token_ids = token_ids
        self.mask = mask
        self.cache = None
        if use_cache:
            self.cache = KVCache(n_layers=model.cfg["n_layers"])
            model.reset_kv_cache()

    def _forward(self, token_ids):
        if self.mask is not None:
            return forward_with_mask(self.model, token_ids, self.mask,
                                     self.cache)
        if self.use_cache:
            return self.model(token_ids, cache=self.cache)
        return self.model(token_ids)

    def first(self):
        # prefill: with the KV cache, the whole prompt fills the cache
        return self._forward(self.token_ids)[:, -1]

    def after(self, next_token):
        if self.mask is not None:  # a new token is never padding
            self.mask = torch.cat([self.mask, torch.ones_like(
                next_token, dtype=torch.bool)], dim=1)
        if self.use_cache:  # only the new token; the cache has the rest
            return self._forward(next_token)[:, -1]
        self.token_ids = torch.cat([self.token_ids, next_token], dim=1)
        return self._forward(self.token_ids)[:, -1]


def generate_stream(model, token_ids, max_new_tokens, *, temperature=0.0,
                    top_k=None, top_p=None, eos_token_id=None,
                    stop_strings=None, tokenizer=None, stop_sequences=None,
                    generator=None, use_cache=True, pad_token_id=None,
                    min_p=None, repetition_penalty=1.0,
                    attention_mask=None):
    """Yield one (batch, 1) tensor of token ids per generation step.

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
    eos = check_generation_args(model, token_ids, max_new_tokens,
                                eos_token_id)
    check_sampling_args(temperature, top_k, top_p, min_p, repetition_penalty)
    check_generator(generator, token_ids.device)
    sequences = _check_stop_sequences(stop_sequences)
    strings = StopStrings(stop_strings, tokenizer) if stop_strings else None
    if stop_strings is not None and not stop_strings:
        strings = None
    pad = eos[0] if pad_token_id is None and eos else pad_token_id
    if pad is not None:
        check_token_id("pad_token_id", pad, model_vocab_size(model))
    if pad is None and (sequences or strings) and token_ids.shape[0] > 1:
        raise ValueError(
            "a batch with stop strings or stop sequences needs a token id "
            "to pad finished rows: pass eos_token_id or pad_token_id."
        )
    mask = check_attention_mask(attention_mask, token_ids, pad)
    sampling = (temperature, top_k, top_p, min_p, repetition_penalty)
    return _stream(model, token_ids, max_new_tokens, sampling, eos, strings,
                   sequences, generator, use_cache, pad, mask)


def _stream(model, *args):
    with eval_mode(model):  # the caller's mode is back when the stream ends
        yield from _stream_in_eval_mode(model, *args)


@torch.inference_mode()
def _stream_in_eval_mode(model, token_ids, max_new_tokens, sampling, eos,
                         strings, sequences, generator, use_cache, pad,
                         mask):
    temperature, top_k, top_p, min_p, penalty = sampling
    device = token_ids.device
    eos_ids = torch.tensor(eos, device=device) if eos else None
    rows = token_ids.tolist() if strings else None  # text of each row
    finished = torch.zeros(token_ids.shape[0], 1, dtype=torch.bool,
                           device=device)
    generated = token_ids[:, :0]  # (batch, n_generated), for stop_sequences
    seen = token_ids  # (batch, n_tokens): the text so far, for the penalty
    if mask is not None:  # padding is not text: in its place, each row's
        # last prompt token, which the penalty counts anyway
        seen = torch.where(mask, token_ids, token_ids[:, -1:])
    # Without a stopping rule the host never waits for the device
    can_stop = bool(eos or strings or sequences)
    next_logits = _NextLogits(model, token_ids, use_cache, mask)
    logits = next_logits.first()  # (batch, vocab_size)
    for step in range(max_new_tokens):
        if penalty != 1.0:  # in float32, as transformers
            logits = _repetition_penalty(logits.float(), seen, penalty)
        next_token = sample_next_token(logits, temperature, top_k, top_p,
                                       generator, min_p=min_p)  # (batch, 1)
        if can_stop:
            if pad is not None:
                next_token = next_token.masked_fill(finished, pad)
            hit_eos = torch.zeros_like(finished)
            if eos_ids is not None:
                hit_eos = ~finished & torch.isin(next_token, eos_ids)
            hit_stop = torch.zeros_like(finished)
            if sequences:
                generated = torch.cat([generated, next_token], dim=1)
                hit_stop |= _ends_with_any(generated, sequences)
            if strings:
                hit_stop |= strings.hits(rows, next_token)
            hit_stop &= ~finished & ~hit_eos
            if torch.all(finished | hit_eos | hit_stop):
                if torch.any(hit_stop):  # the stop text is in the output
                    yield next_token
                return
            finished |= hit_eos | hit_stop
        yield next_token
        if penalty != 1.0:
            seen = torch.cat([seen, next_token], dim=1)
        if step + 1 < max_new_tokens:  # no forward pass after the last
            logits = next_logits.after(next_token)


def _ends_with_any(generated, stop_sequences):
    """(batch, 1) bool: does each row end with one of the sequences?"""
    result = torch.zeros(generated.shape[0], 1, dtype=torch.bool,
                         device=generated.device)
    for seq in stop_sequences:
        if len(seq) <= generated.shape[1]:
            tail = generated[:, -len(seq):]
            target = torch.tensor(seq, device=generated.device)
            result |= torch.all(tail == target, dim=1, keepdim=True)
    return result


def generate(model, token_ids, max_new_tokens, *, temperature=0.0,
             top_k=None, top_p=None, eos_token_id=None, stop_strings=None,
             tokenizer=None, stop_sequences=None, generator=None,
             use_cache=True, pad_token_id=None, min_p=None,
             repetition_penalty=1.0, attention_mask=None):
    """Like ``generate_stream``, but return all new tokens at once as a
    (batch, n_new) tensor."""
    stream = generate_stream(
        model, token_ids, max_new_tokens, temperature=temperature,
        top_k=top_k, top_p=top_p, eos_token_id=eos_token_id,
        stop_strings=stop_strings, tokenizer=tokenizer,
        stop_sequences=stop_sequences, generator=generator,
        use_cache=use_cache, pad_token_id=pad_token_id, min_p=min_p,
        repetition_penalty=repetition_penalty, attention_mask=attention_mask,
    )
    return collect_stream(stream, token_ids)


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


@torch.inference_mode()
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
    ``best_token_ids`` has shape (1, n_new), without the final EOS, as the
    book's loops return it; ``score`` is transformers'
    ``sequences_scores``. A prompt padded on the left (``attention_mask``
    0 there) is searched without its padding.
    """
    eos = check_generation_args(model, token_ids, max_new_tokens,
                                eos_token_id)
    check_non_negative_int("beam_width", beam_width)
    if beam_width < 1:
        raise ValueError(
            f"beam_width must be >= 1, got {beam_width}; 1 is greedy "
            "decoding, 4 is a common choice."
        )
    if token_ids.shape[0] != 1:
        raise ValueError(
            "beam_search takes one prompt, shape (1, n_tokens), got batch "
            f"size {token_ids.shape[0]}; call it once per prompt."
        )
    mask = check_attention_mask(attention_mask, token_ids)
    if mask is not None:  # one row: its tokens alone are the same search
        token_ids = token_ids[:, mask[0]]
    if not isinstance(length_penalty, (int, float)) or isinstance(
        length_penalty, bool
    ):
        raise TypeError(
            f"length_penalty must be a number, got {length_penalty!r}."
        )
    if not math.isfinite(length_penalty):
        raise ValueError(
            f"length_penalty must be a finite number, got "
            f"{length_penalty!r}; 1.0 (the default) divides a beam's score "
            "by its length, 0 compares raw sums."
        )
    if early_stopping not in (True, False, "never"):
        raise ValueError(
            f"early_stopping must be True, False or 'never', got "
            f"{early_stopping!r}."
        )
    if max_new_tokens == 0:
        return token_ids[:, :0], 0.0
    with eval_mode(model):
        return _BeamSearch(model, token_ids, max_new_tokens, beam_width,
                           length_penalty, eos, early_stopping).run()


class _BeamSearch:
    """The state of one beam search; ``run`` follows transformers'
    ``GenerationMixin._beam_search`` step by step."""

    def __init__(self, model, token_ids, max_new_tokens, width,
                 length_penalty, eos, early_stopping):
        self.model = model
        self.prompt = token_ids
        self.max_new = max_new_tokens
        self.width = width
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping
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
        cache = KVCache(n_layers=self.model.cfg["n_layers"])
        self.model.reset_kv_cache()
        # One prefill for the prompt, copied to every beam's cache
        logits = self.model(self.prompt, cache=cache)[:, -1]  # (1, vocab)
        _reorder_cache(cache, torch.zeros(self.width, dtype=torch.long,
                                          device=self.prompt.device))
        logits = logits.expand(self.width, -1)
        for step in range(self.max_new):
            parents = self._step(logits, step)
            if not self._going_on(step):
                break
            _reorder_cache(cache, parents)
            logits = self.model(self.tokens[:, -1:], cache=cache)[:, -1]
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


def _reorder_cache(cache, beam_idx):
    """Give each beam the keys and values of the beam it continues."""
    for layer, entry in enumerate(cache.get_all()):
        if entry is not None:
            keys, values = entry
            cache.update(layer, (keys.index_select(0, beam_idx),
                                 values.index_select(0, beam_idx)))
