"""Stop strings: end generation once the text reaches a given string
(bonus notebook ``ch02/02_decoding-strategies`` and ``ch02-generate``).

Token ids are a poor way to say "stop at a blank line": the tokenizer
writes ".\\n\\n" as one token (382) and "\\n\\n" alone as another (271), so
the ids of "\\n\\n" never appear after a sentence. A stop string is matched
in the decoded text instead. Generation stops at the token that completes
a stop string, wherever the string sits in that token: at its start, in
its middle (".\\n\\n"), or spread over several tokens, also when it begins
in the prompt. Tokens are kept up to and including that one, as in
Hugging Face transformers; the printed text is cut right after the string.
"""

import torch


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

    def ends_in_last_token(self, ids):
        """True if the text of ``ids`` (prompt and output of one row, a
        list of ints) has a stop string that ends in its last token."""
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
