"""Small Qwen3 configurations for tests, exercise checks and smoke runs:
``TINY_QWEN3_CONFIG`` (a few thousand float32 parameters, exact on any
CPU) and ``SMALL_QWEN3_CONFIG`` (the real vocabulary, for the real
tokenizer)."""

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from .files.random_weights import seeded_model

TINY_QWEN3_CONFIG = {
    "vocab_size": 64,
    "context_length": 128,
    "emb_dim": 32,
    "n_heads": 4,
    "n_layers": 2,
    "hidden_dim": 64,
    "head_dim": 8,
    "qk_norm": True,
    "n_kv_groups": 2,
    "rope_base": 10_000.0,
    "dtype": torch.float32,
}

SMALL_QWEN3_CONFIG = {
    **QWEN_CONFIG_06_B,
    "emb_dim": 32,
    "n_heads": 4,
    "n_layers": 2,
    "hidden_dim": 64,
    "head_dim": 8,
    "n_kv_groups": 2,
}


def tiny_qwen3_model(seed=123, cfg=TINY_QWEN3_CONFIG):
    """A seeded, randomly initialized tiny Qwen3 model in eval mode (the
    global random state is left as it was)."""
    return seeded_model(cfg, seed).eval()
