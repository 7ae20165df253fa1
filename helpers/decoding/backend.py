"""What the decoding loop needs of a model: a backend. ``prefill`` and
``step`` return the next token's logits (batch, vocab_size) and a greedy
choice (batch, 1) where they have one (the fast backend's compiled step
does), else None. The book's model runs on ``BookBackend``;
``FastGenerator`` is a backend itself, passed in place of the model.
"""

import weakref
from typing import Protocol, runtime_checkable

import torch

# Cache owner -> the generation that filled its cache last
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
    """A generation's hold on a backend's KV cache: the newest takes it;
    an older stream raises at its next step instead of reading a cache
    that another generation filled."""

    def __init__(self, backend):
        self.owner = backend.cache_owner
        _OPEN[self.owner] = self

    def check(self):
        if _OPEN.get(self.owner) is not self:
            raise RuntimeError(
                "another generation has used this FastGenerator's cache "
                "since this stream began, so it cannot go on: start the "
                "stream again, or give each stream a FastGenerator of its "
                "own."
            )
