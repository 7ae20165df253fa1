"""Beyond the book: the rules that end generation, as a list of criteria
built once per call (transformers' ``StoppingCriteriaList``).

The length limit is the loop's own count. Each criterion here is told
every new token (batch, 1) and answers, per row, whether that row
stops: ``EosToken`` before the token (the book's loops never return
EOS), ``StopSequences`` and ``StopStringCriteria`` after it (the text
that matched has been streamed, so it stays in the output).
"""

import torch

from .stop_strings import StopStrings


class EosToken:
    """Stop a row at one of the EOS ids; the EOS itself is not output."""

    keeps_token = False

    def __init__(self, eos, device):
        self.eos = torch.tensor(eos, device=device)

    def __call__(self, next_token):
        return torch.isin(next_token, self.eos)


class StopSequences:
    """Stop a row once its output ends with one of ``sequences`` (lists
    of token ids)."""

    keeps_token = True

    def __init__(self, sequences, token_ids):
        device = token_ids.device
        self.sequences = [torch.tensor(s, device=device) for s in sequences]
        self.generated = token_ids[:, :0]  # (batch, n_generated)

    def __call__(self, next_token):
        self.generated = torch.cat([self.generated, next_token], dim=1)
        hit = torch.zeros_like(next_token, dtype=torch.bool)
        for seq in self.sequences:
            if len(seq) <= self.generated.shape[1]:
                tail = self.generated[:, -len(seq):]
                hit |= torch.all(tail == seq, dim=1, keepdim=True)
        return hit


class StopStringCriteria:
    """Stop a row at the token that completes one of the stop strings in
    its decoded text (prompt included): see ``stop_strings.py``."""

    keeps_token = True

    def __init__(self, strings, tokenizer, token_ids):
        self.matcher = StopStrings(strings, tokenizer)
        self.rows = token_ids.tolist()  # the ids of each row, so far

    def __call__(self, next_token):
        return self.matcher.hits(self.rows, next_token)


def stopping_criteria(config, tokenizer, token_ids):
    """The criteria that ``config`` asks for, for the prompts
    ``token_ids``; the tokenizer is checked here, if stop strings need
    it."""
    criteria = []
    if config.eos:
        criteria.append(EosToken(config.eos, token_ids.device))
    if config.sequences:
        criteria.append(StopSequences(config.sequences, token_ids))
    if config.strings:
        criteria.append(StopStringCriteria(config.strings, tokenizer,
                                           token_ids))
    return criteria
