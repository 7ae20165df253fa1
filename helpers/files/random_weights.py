"""Random-weights mode (``QWEN3_RANDOM_WEIGHTS=1``): a full-size Qwen3
checkpoint for offline runs, as costly as the real one, whose text is
gibberish. Every RMSNorm scale is exactly 1.0, which no trained model
has, so it is never taken for the real weights. The global random state
is left as it was."""

import os
from pathlib import Path

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B, Qwen3Model

from .atomic import atomic_path

RANDOM_WEIGHTS_ENV = "QWEN3_RANDOM_WEIGHTS"
RANDOM_WEIGHTS_SEED = 123


def random_weights_requested():
    """True when the environment asks for random weights."""
    value = os.environ.get(RANDOM_WEIGHTS_ENV, "").strip().lower()
    return value in {"1", "true", "yes", "on"}


def seeded_model(cfg, seed):
    """``Qwen3Model(cfg)`` initialized from ``seed``, without touching the
    global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Qwen3Model(cfg)


def random_state_dict(cfg=QWEN_CONFIG_06_B, seed=RANDOM_WEIGHTS_SEED):
    """A seeded random ``state_dict`` for ``Qwen3Model(cfg)``."""
    return seeded_model(cfg, seed).state_dict()


def write_random_checkpoint(path, cfg=QWEN_CONFIG_06_B, replace=True):
    """Write a random checkpoint to ``path``; with ``replace=False`` a
    file that appeared there meanwhile stays (``FileExistsError``)."""
    with atomic_path(path, replace=replace) as tmp:
        torch.save(random_state_dict(cfg), tmp)
    return Path(path)


def norm_scale_keys(state):
    """The keys of every RMSNorm scale in a Qwen3 ``state_dict``."""
    return [key for key in state
            if key.endswith(".scale") and "norm" in key.rsplit(".", 2)[-2]]


def is_random_checkpoint(path):
    """True if every RMSNorm scale in ``path`` is exactly 1.0 (only they
    are read: the file is memory-mapped)."""
    state = torch.load(path, map_location="cpu", mmap=True,
                       weights_only=True)
    keys = norm_scale_keys(state) if isinstance(state, dict) else []
    return bool(keys) and all(bool(torch.all(state[key] == 1.0))
                              for key in keys)
