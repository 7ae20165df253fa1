"""The rules that end generation, as a list of criteria built once per
call (transformers' ``StoppingCriteriaList``).

Each criterion is told every new token (batch, 1) and answers, per row,
whether that row stops: ``EosToken`` before the token (the book's loops
never return EOS), ``StopSequences`` and ``StopStrings`` after it (the
text that matched has been streamed, so it stays).

A stop string is matched in the decoded text, not in token ids: the
tokenizer writes ".\\n\\n" as one token and "\\n\\n" alone as another, so
the ids of "\\n\\n" never appear after a sentence. Generation stops at the
token that completes a stop string, wherever the string sits in it, also
when it began in the prompt, as in transformers.
"""

import os

import torch

from .config import check_stop_strings


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


class StopStrings:
    """Whether a text reached one of the stop strings. As a criterion,
    ``StopStrings(strings, tokenizer, token_ids)`` follows the rows of
    ``token_ids`` (the prompts) token by token."""

    keeps_token = True

    def __init__(self, stop_strings, tokenizer, token_ids=None):
        self.strings = check_stop_strings(stop_strings)
        if self.strings and not hasattr(tokenizer, "decode"):
            raise TypeError(
                "stop_strings are matched in the decoded text and need the "
                "tokenizer: pass tokenizer=tokenizer."
            )
        self.tokenizer = tokenizer
        # A character is at most 4 bytes and a token at least 1 byte: the
        # tokens behind a stop string's characters fit in this window
        self.window = 4 * max(map(len, self.strings), default=0) + 2
        self.last_chars = {text[-1] for text in self.strings}
        self.pieces = {}  # token id -> its text alone
        self.rows = None if token_ids is None else token_ids.tolist()

    def could_end_in(self, token):
        """False when ``token`` cannot complete a stop string: its text
        alone is whole characters, none a stop string's last. One lookup
        rules out most tokens without decoding the window."""
        piece = self.pieces.get(token)
        if piece is None:
            piece = self.pieces[token] = self.tokenizer.decode([token])
        return "\ufffd" in piece or not self.last_chars.isdisjoint(piece)

    def ends_in_last_token(self, ids):
        """True if the text of ``ids`` (a list of ints) has a stop string
        that ends in its last token."""
        if not self.could_end_in(ids[-1]):
            return False
        tail = ids[-self.window:]
        before = self.tokenizer.decode(tail[:-1])
        now = self.tokenizer.decode(tail)
        start = len(os.path.commonprefix([before, now]))  # the token's
        return self.first_end(now, start) is not None

    def __call__(self, next_token):
        """Which rows (batch, 1) reached a stop string with
        ``next_token`` (batch, 1)."""
        hit = []
        for row, token in zip(self.rows, next_token[:, 0].tolist(),
                              strict=True):
            row.append(token)
            hit.append(self.ends_in_last_token(row))
        return torch.tensor(hit, device=next_token.device)[:, None]

    def first_end(self, text, start=0):
        """End of the first stop string that ends after ``start`` in
        ``text``, or None."""
        ends = [i + len(s) for s in self.strings
                if (i := text.find(s, max(0, start - len(s) + 1))) != -1]
        return min(ends, default=None)


def stopping_criteria(config, tokenizer, token_ids):
    """The criteria that ``config`` asks for, for the prompts
    ``token_ids``."""
    criteria = []
    if config.eos:
        criteria.append(EosToken(config.eos, token_ids.device))
    if config.sequences:
        criteria.append(StopSequences(config.sequences, token_ids))
    if config.strings:
        criteria.append(StopStrings(config.strings, tokenizer, token_ids))
    return criteria
