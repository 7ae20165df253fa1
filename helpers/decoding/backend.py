"""What the decoding loop needs of a model: a backend. ``prefill`` and
``step`` return the next token's logits (batch, vocab_size) and a greedy
choice (batch, 1) where they have one (the fast backend's compiled step
does), else None. The book's model runs on ``BookBackend``;
``FastGenerator`` is a backend itself, passed in place of the model.
"""

import weakref
from typing import Protocol, runtime_checkable

import torch

# Cache owner -> the generation that holds its cache now
_OPEN = weakref.WeakKeyDictionary()


@runtime_checkable
class Backend(Protocol):
    # The book's model: its vocabulary, context length and training mode
    model: torch.nn.Module
    # What holds the KV cache a generation fills (see CacheClaim)
    cache_owner: object
    # Steps between asking the device whether every row has finished
    check_every: int

    def check(self, batch_size, n_tokens, max_new_tokens):
        """Raise ``ValueError`` if the rows or the length do not fit what
        the backend holds (checked before the first token)."""

    def prefill(self, token_ids, mask=None):
        """Read the prompts (batch, n_tokens); ``mask`` (bool, the same
        shape) is False for left padding, or None."""

    def step(self, token):
        """One new token per row (batch, 1)."""

    def reorder(self, rows):
        """Row i continues row ``rows[i]`` (a tensor of row indices)."""


class CacheClaim:
    """A generation's hold on a backend's KV cache, from its first step
    until it ends (read to the end, closed, or deleted): a second
    generation on the same cache meanwhile is refused at its first step,
    instead of reading a cache that the other one fills."""

    def __init__(self, backend):
        self.owner = backend.cache_owner

    def __enter__(self):
        if self.owner in _OPEN:
            raise RuntimeError(
                "a stream on this FastGenerator is still open, and it has "
                "one KV cache: read that stream to the end or call its "
                ".close() first, or give each stream a FastGenerator of "
                "its own."
            )
        _OPEN[self.owner] = self
        return self

    def __exit__(self, *exc):
        del _OPEN[self.owner]
