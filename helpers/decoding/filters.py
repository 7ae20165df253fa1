"""The sampling filters themselves, for logits (batch, vocab_size) whose
settings were checked already: by ``GenerationConfig`` for the loop, by
the public functions of ``sampling.py`` for a reader's own calls. Each
sets the tokens it removes to -inf, so filters compose.
"""

import torch


def keep_top_k(logits, top_k):
    top_k = min(top_k, logits.size(-1))  # a larger top_k keeps everything
    v, _ = torch.topk(logits, top_k, dim=-1)
    return logits.masked_fill(logits < v[:, [-1]], -torch.inf)


# top-p sorts only this many of the most likely tokens when they already
# hold the nucleus (nearly always), instead of all 151,936
TOP_P_CANDIDATES = 1024
# Cumulative sums in float32 differ by about 1e-5 with the order of
# summation: closer than this to top_p, a token's fate is decided with
# transformers' own arithmetic
TOP_P_MARGIN = 1e-3


def keep_top_p(logits, top_p):
    if top_p >= 1.0:
        return logits
    k = min(TOP_P_CANDIDATES, logits.size(-1))
    probas = torch.softmax(logits.float(), dim=-1)
    top_probas, top_idx = torch.topk(probas, k, dim=-1)  # sorted
    # Probability mass of the tokens ranked above each candidate
    mass_before = top_probas.cumsum(dim=-1) - top_probas
    near = (mass_before - top_p).abs() < TOP_P_MARGIN
    short = top_probas.sum(dim=-1) < top_p + TOP_P_MARGIN
    if k == logits.size(-1) or bool(near.any() | short.any()):
        return top_p_sorted(logits, top_p)
    remove = mass_before >= top_p
    remove[:, 0] = False  # the most probable token always stays
    kept = logits.gather(-1, top_idx).masked_fill(remove, -torch.inf)
    # Every token outside the candidates is beyond the nucleus
    return torch.full_like(logits, -torch.inf).scatter_(-1, top_idx, kept)


def top_p_sorted(logits, top_p):
    """top-p over the whole vocabulary, with transformers' arithmetic:
    ascending order, remove what adds up to at most 1 - top_p."""
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= 1 - top_p
    remove[:, -1] = False  # the most probable token always stays
    remove = remove.scatter(-1, sorted_idx, remove)
    return logits.masked_fill(remove, -torch.inf)


def keep_min_p(logits, min_p):
    probas = torch.softmax(logits.float(), dim=-1)
    threshold = min_p * probas.amax(dim=-1, keepdim=True)  # (batch, 1)
    return logits.masked_fill(probas < threshold, -torch.inf)


def penalize_repeats(logits, token_ids, penalty):
    if penalty == 1.0:
        return logits
    seen = logits.gather(-1, token_ids.long())
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return logits.scatter(-1, token_ids.long(), seen)
