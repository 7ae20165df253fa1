"""Small Qwen3 configurations for tests, exercise checks and smoke runs.

``TINY_QWEN3_CONFIG``: the same architecture as Qwen3 0.6B with a few
thousand parameters, float32, so that results are exact and deterministic
on any CPU. ``SMALL_QWEN3_CONFIG``: 2 layers of width 32 with the real
vocabulary (about 10 million parameters, 20 MB in bfloat16), for what
needs the real tokenizer, such as ``ch02-generate``.
"""

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
