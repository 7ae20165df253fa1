"""Beam search on the decoding loop's backends, as transformers'
``generate(num_beams=...)`` does it: the same tokens and scores."""

import torch

from .backend import CacheClaim
from .config import GenerationConfig
from .loop import prepare
from .validation import eval_mode

# A score that never wins: transformers' "-1e9" for impossible candidates
_NEVER = -1.0e9


def beam_search(model, token_ids, max_new_tokens=None, beam_width=4,
                length_penalty=1.0, eos_token_id=None, early_stopping=False,
                attention_mask=None, *, config=None):
    """Return ``(best_token_ids, score)`` for one prompt, as
    transformers' ``generate(num_beams=beam_width, ...)`` finds them.

    - Each step ranks the ``2 * beam_width`` best continuations of all
      beams; those that end in EOS become finished hypotheses (if among
      the first ``beam_width``), the best others go on.
    - A hypothesis scores its summed log-probability divided by
      ``n_tokens ** length_penalty``: 0 favours short answers.
    - ``early_stopping``: True stops once ``beam_width`` hypotheses are
      finished; False also waits until no live beam can beat the worst
      of them; "never" goes on to ``max_new_tokens`` where one could.

    ``model`` is the book's model or a ``FastGenerator`` (with
    ``max_batch_size >= beam_width``). ``best_token_ids`` (1, n_new)
    leaves out the final EOS, as the book's loops; ``score`` is
    transformers' ``sequences_scores``. A ``config`` may stand for the
    options, its ``num_beams`` for ``beam_width``.
    """
    if config is None:
        config = GenerationConfig(
            max_new_tokens, num_beams=beam_width,
            length_penalty=length_penalty, eos_token_id=eos_token_id,
            early_stopping=early_stopping,
        )
    elif (not isinstance(config, GenerationConfig)
          or max_new_tokens is not None):
        raise TypeError(
            "beam_search() takes its options either as config=... (a "
            "GenerationConfig with max_new_tokens) or as arguments."
        )
    backend, mask, _, _ = prepare(model, token_ids, config,
                                  attention_mask=attention_mask)
    if token_ids.shape[0] != 1:
        raise ValueError(
            "beam_search takes one prompt, shape (1, n_tokens), got batch "
            f"size {token_ids.shape[0]}; call it once per prompt."
        )
    if mask is not None:  # one row: its tokens alone are the same search
        token_ids = token_ids[:, mask[0]]
    if config.max_new_tokens == 0:
        return token_ids[:, :0], 0.0
    with CacheClaim(backend), eval_mode(backend.model), (
            torch.inference_mode()):
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
