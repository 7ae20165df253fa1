"""The book's ``Qwen3Model`` as a ``Backend`` of the decoding loop: its
forward pass with its ``KVCache``, or with ``use_cache=False`` the whole
text again every step, as in Listing 2.2."""

import torch
from reasoning_from_scratch.qwen3 import KVCache

from .backend import Backend
from .padding import forward_with_mask


class BookBackend(Backend):
    # A step costs far more than asking whether every row has finished
    check_every = 1

    def __init__(self, model, use_cache=True):
        self.model = model
        # Each generation has a backend, a KVCache and a position of its
        # own, so streams on one model can be read in turn
        self.cache_owner = self
        self.pos = 0
        self.use_cache = use_cache
        self.cache = None
        self.token_ids = None
        self.mask = None

    def check(self, batch_size, n_tokens, max_new_tokens):
        pass  # the model's own limits are checked by the caller

    def prefill(self, token_ids, mask=None):
        self.token_ids, self.mask = token_ids, mask
        if self.use_cache:  # the whole prompt fills the cache
            self.cache = KVCache(n_layers=self.model.cfg["n_layers"])
            self.model.reset_kv_cache()
            self.pos = 0
        return self._forward(token_ids)[:, -1], None

    def step(self, next_token):
        if self.mask is not None:  # a new token is never padding
            self.mask = torch.cat([self.mask, torch.ones_like(
                next_token, dtype=torch.bool)], dim=1)
        if self.use_cache:  # only the new token; the cache has the rest
            return self._forward(next_token)[:, -1], None
        self.token_ids = torch.cat([self.token_ids, next_token], dim=1)
        return self._forward(self.token_ids)[:, -1], None

    def reorder(self, rows):
        if self.mask is not None:
            self.mask = self.mask.index_select(0, rows)
        if not self.use_cache:
            self.token_ids = self.token_ids.index_select(0, rows)
            return
        for layer, entry in enumerate(self.cache.get_all()):
            if entry is not None:
                keys, values = entry
                self.cache.update(layer, (keys.index_select(0, rows),
                                          values.index_select(0, rows)))

    def _forward(self, token_ids):
        if self.use_cache:  # the model's position is this generation's
            model = getattr(self.model, "_orig_mod", self.model)
            model.current_pos = self.pos
            try:
                return self._forward_at(token_ids)
            finally:
                self.pos = model.current_pos
        return self._forward_at(token_ids)

    def _forward_at(self, token_ids):
        if self.mask is not None:
            return forward_with_mask(self.model, token_ids, self.mask,
                                     self.cache)
        if self.use_cache:
            return self.model(token_ids, cache=self.cache)
        return self.model(token_ids)
