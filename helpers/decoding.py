"""Generation with sampling, stop sequences and beam search (bonus notebook
``ch02/02_decoding-strategies`` and the ``ch02-generate`` command).

``generate_stream`` extends the book's streaming loops with the decoding
options Hugging Face users know: ``temperature``, ``top_k``, ``top_p``,
``stop_sequences`` and a seeded ``generator``. With the defaults it is the
book's greedy loop. ``beam_search`` keeps several candidate continuations and
returns the one with the best length-normalized log-probability.
"""

import torch
from reasoning_from_scratch.qwen3 import KVCache

from .sampling import check_sampling_args, sample_next_token
from .validation import check_generation_args, check_non_negative_int


def _check_stop_sequences(stop_sequences):
    if stop_sequences is None:
        return []
    if isinstance(stop_sequences, (str, bytes)) or not all(
        isinstance(seq, (list, tuple)) and seq
        and all(isinstance(t, int) and not isinstance(t, bool) for t in seq)
        for seq in stop_sequences
    ):
        raise TypeError(
            "stop_sequences must be a list of non-empty lists of token "
            f"ids, got {stop_sequences!r}; for text, use "
            "[tokenizer.encode(text) for text in stop_texts]."
        )
    return [list(seq) for seq in stop_sequences]


class _NextLogits:
    """Logits of the next token, with or without the KV cache."""

    def __init__(self, model, token_ids, use_cache):
        self.model = model
        self.use_cache = use_cache
        self.token_ids = token_ids
        if use_cache:
            self.cache = KVCache(n_layers=model.cfg["n_layers"])
            model.reset_kv_cache()

    def first(self):
        if self.use_cache:  # prefill: the whole prompt fills the cache
            return self.model(self.token_ids, cache=self.cache)[:, -1]
        return self.model(self.token_ids)[:, -1]

    def after(self, next_token):
        if self.use_cache:  # only the new token; the cache has the rest
            return self.model(next_token, cache=self.cache)[:, -1]
        self.token_ids = torch.cat([self.token_ids, next_token], dim=1)
        return self.model(self.token_ids)[:, -1]


@torch.inference_mode()
def generate_stream(model, token_ids, max_new_tokens, *, temperature=0.0,
                    top_k=None, top_p=None, eos_token_id=None,
                    stop_sequences=None, generator=None, use_cache=True,
                    pad_token_id=None):
    """Yield one (batch, 1) tensor of token ids per generation step.

    - Stops before ``eos_token_id`` (as the book's loops do), and after the
      last token of any of ``stop_sequences`` (lists of token ids; those
      tokens are part of the output, since they have been streamed).
    - In a batch, a row that has finished stops growing: it gets
      ``pad_token_id`` (default: ``eos_token_id``) until every row is done.
    """
    check_generation_args(token_ids, max_new_tokens, eos_token_id)
    check_sampling_args(temperature, top_k, top_p)
    stops = _check_stop_sequences(stop_sequences)
    batch_size = token_ids.shape[0]
    pad = eos_token_id if pad_token_id is None else pad_token_id
    if pad is None and stops and batch_size > 1:
        raise ValueError(
            "a batch with stop_sequences needs a token id to pad finished "
            "rows: pass eos_token_id or pad_token_id."
        )
    model.eval()

    next_logits = _NextLogits(model, token_ids, use_cache)
    logits = next_logits.first()  # (batch, vocab_size)
    finished = torch.zeros(batch_size, 1, dtype=torch.bool,
                           device=token_ids.device)
    generated = token_ids[:, :0]  # (batch, n_generated), for stop checks
    for _ in range(max_new_tokens):
        next_token = sample_next_token(
            logits, temperature, top_k, top_p, generator
        )
        if pad is not None:
            next_token = next_token.masked_fill(finished, pad)

        if eos_token_id is not None:
            hit_eos = ~finished & (next_token == eos_token_id)
        else:
            hit_eos = torch.zeros_like(finished)
        if stops:  # keep the output only when stop sequences need it
            generated = torch.cat([generated, next_token], dim=1)
            hit_stop = ~finished & ~hit_eos & _ends_with_any(generated,
                                                             stops)
        else:
            hit_stop = torch.zeros_like(finished)

        if torch.all(finished | hit_eos | hit_stop):
            if torch.any(hit_stop):  # a stop sequence is part of the text
                yield next_token
            return
        finished |= hit_eos | hit_stop
        yield next_token
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
             top_k=None, top_p=None, eos_token_id=None, stop_sequences=None,
             generator=None, use_cache=True, pad_token_id=None):
    """Like ``generate_stream``, but return all new tokens at once as a
    (batch, n_new) tensor."""
    stream = generate_stream(
        model, token_ids, max_new_tokens, temperature=temperature,
        top_k=top_k, top_p=top_p, eos_token_id=eos_token_id,
        stop_sequences=stop_sequences, generator=generator,
        use_cache=use_cache, pad_token_id=pad_token_id,
    )
    return collect_stream(stream, token_ids)


def collect_stream(stream, token_ids):
    """Concatenate a stream of (batch, 1) tensors into (batch, n_new);
    (batch, 0) when the stream is empty."""
    tokens = list(stream)
    if tokens:
        return torch.cat(tokens, dim=1)
    return token_ids[:, :0]


@torch.inference_mode()
def beam_search(model, token_ids, max_new_tokens, beam_width=4,
                length_penalty=1.0, eos_token_id=None):
    """Return ``(best_token_ids, score)`` for one prompt.

    Keeps the ``beam_width`` most probable continuations. All beams advance
    in one batched forward pass, and the KV cache is reordered to follow
    the surviving beams. A beam that produces ``eos_token_id`` is finished
    (EOS is not part of its tokens, as in the book's loops); the beam then
    shrinks. A sequence's score is its summed log-probability divided by
    ``n_tokens ** length_penalty``: 0 compares raw sums (favours short
    answers), larger values favour longer ones. ``best_token_ids`` has shape
    (1, n_new).
    """
    check_generation_args(token_ids, max_new_tokens, eos_token_id)
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
    if not isinstance(length_penalty, (int, float)) or isinstance(
        length_penalty, bool
    ):
        raise TypeError(
            f"length_penalty must be a number, got {length_penalty!r}."
        )
    model.eval()
    device = token_ids.device

    def normalized(total_logprob, length):
        return total_logprob / max(length, 1) ** length_penalty

    cache = KVCache(n_layers=model.cfg["n_layers"])
    model.reset_kv_cache()
    logits = model(token_ids, cache=cache)[:, -1]  # (1, vocab_size)
    beams = token_ids.new_empty(1, 0)  # (n_beams, n_generated)
    beam_scores = torch.zeros(1, device=device)  # summed log-probs
    finished = []  # (normalized score, token ids) of finished beams

    for step in range(max_new_tokens):
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        # Score of every (beam, next token) pair: (n_beams, vocab_size)
        candidates = beam_scores[:, None] + logprobs
        top_scores, flat_idx = torch.topk(
            candidates.flatten(), min(beam_width, candidates.numel())
        )
        beam_idx = flat_idx // logprobs.shape[-1]
        next_tokens = flat_idx % logprobs.shape[-1]

        keep = torch.ones_like(next_tokens, dtype=torch.bool)
        if eos_token_id is not None:
            keep = next_tokens != eos_token_id
            for score, b in zip(top_scores[~keep].tolist(),
                                beam_idx[~keep].tolist(), strict=True):
                finished.append((normalized(score, step), beams[b]))
        if not torch.any(keep):  # every beam has finished
            beams, beam_scores = beams[:0], beam_scores[:0]
            break
        beam_idx, next_tokens = beam_idx[keep], next_tokens[keep]
        beam_scores = top_scores[keep]
        beams = torch.cat([beams[beam_idx], next_tokens[:, None]], dim=1)
        if step == max_new_tokens - 1:
            break
        _reorder_cache(cache, beam_idx)
        logits = model(next_tokens[:, None], cache=cache)[:, -1]

    # Beams still running at the end compete with the finished ones
    for score, beam in zip(beam_scores.tolist(), beams, strict=True):
        finished.append((normalized(score, beams.shape[1]), beam))
    best_score, best = max(finished, key=lambda item: item[0])
    return best.unsqueeze(0), best_score


def _reorder_cache(cache, beam_idx):
    """Keep, for each surviving beam, the keys and values of its parent."""
    for layer, entry in enumerate(cache.get_all()):
        if entry is not None:
            keys, values = entry
            cache.update(layer, (keys.index_select(0, beam_idx),
                                 values.index_select(0, beam_idx)))
