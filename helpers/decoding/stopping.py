"""Beyond the book: the rules that end generation, as a list of criteria
built once per call (transformers' ``StoppingCriteriaList``).

The length limit is the loop's own count. Each criterion here is told
every new token (batch, 1) and answers, per row, whether that row
stops: ``EosToken`` before the token (the book's loops never return
EOS), ``StopSequences`` and ``StopStringCriteria`` after it (the text
that matched has been streamed, so it stays in the output).

Stop strings (also for ``ch02-generate --stop``): token ids are a poor
way to say "stop at a blank line": the tokenizer writes ".\\n\\n" as one
token (382) and "\\n\\n" alone as another (271), so the ids of "\\n\\n"
never appear after a sentence. A stop string is matched in the decoded
text instead. Generation stops at the token that completes a stop
string, wherever the string sits in that token: at its start, in its
middle (".\\n\\n"), or spread over several tokens, also when it begins in
the prompt. Tokens are kept up to and including that one, as in Hugging
Face transformers; the printed text is cut right after the string.
"""

import torch


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
    its decoded text (prompt included): see ``StopStrings`` below."""

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


# Stop strings --------------------------------------------------------------


def check_stop_strings(stop_strings):
    """The stop strings as a tuple; a clear error for bad input."""
    if isinstance(stop_strings, str):
        stop_strings = [stop_strings]
    try:
        strings = tuple(stop_strings)
    except TypeError:
        raise TypeError(
            f"stop_strings must be a list of strings, got "
            f"{type(stop_strings).__name__}; for example "
            "stop_strings=['\\n\\n']."
        ) from None
    for text in strings:
        if not isinstance(text, str):
            raise TypeError(
                f"stop_strings must hold strings, got {text!r}; for token "
                "ids use stop_sequences."
            )
        if not text:
            raise ValueError(
                "stop_strings holds an empty string, which would stop at "
                "once; remove it."
            )
    return strings


class StopStrings:
    """Checks, token by token, whether a sequence reached a stop string."""

    def __init__(self, stop_strings, tokenizer):
        self.strings = check_stop_strings(stop_strings)
        if self.strings and not hasattr(tokenizer, "decode"):
            raise TypeError(
                "stop_strings are matched in the decoded text and need the "
                "tokenizer: pass tokenizer=tokenizer."
            )
        self.tokenizer = tokenizer
        longest = max(map(len, self.strings), default=0)
        # A character is at most 4 bytes and a token at least 1 byte, so
        # the tokens behind a stop string's characters fit in this window
        self.window = 4 * longest + 2
        self.last_chars = {text[-1] for text in self.strings}
        self.pieces = {}  # token id -> its text alone

    def could_end_in(self, token):
        """False when ``token`` cannot complete a stop string: its text
        alone is whole characters, none of them a stop string's last.
        (What a token adds to a text is its own text, unless it completes
        a character begun before it, and then it is not whole alone.)
        Most tokens are ruled out so, by one lookup instead of decoding
        the window twice."""
        piece = self.pieces.get(token)
        if piece is None:
            piece = self.pieces[token] = self.tokenizer.decode([token])
        return "\ufffd" in piece or not self.last_chars.isdisjoint(piece)

    def ends_in_last_token(self, ids):
        """True if the text of ``ids`` (prompt and output of one row, a
        list of ints) has a stop string that ends in its last token."""
        if not self.could_end_in(ids[-1]):
            return False
        tail = ids[-self.window:]
        before = self.tokenizer.decode(tail[:-1])
        now = self.tokenizer.decode(tail)
        start = _common_prefix_length(before, now)  # where the token begins
        return any(now.find(s, max(0, start - len(s) + 1)) != -1
                   for s in self.strings)

    def hits(self, rows, next_token):
        """Append ``next_token`` (batch, 1) to ``rows`` (lists of ids, one
        per row) and return a (batch, 1) bool tensor: which rows reached a
        stop string with it."""
        hit = []
        for row, token in zip(rows, next_token[:, 0].tolist(), strict=True):
            row.append(token)
            hit.append(self.ends_in_last_token(row))
        return torch.tensor(hit, device=next_token.device)[:, None]

    def first_end(self, text, start=0):
        """End of the first stop string that ends after ``start`` in
        ``text``, or None."""
        ends = []
        for s in self.strings:
            i = text.find(s, max(0, start - len(s) + 1))
            if i != -1:
                ends.append(i + len(s))
        return min(ends, default=None)


def _common_prefix_length(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
