"""A tiny Qwen3 configuration for tests and exercise checks.

Same architecture as Qwen3 0.6B, a few thousand parameters, float32 so that
results are exact and deterministic on any CPU.
"""

import torch

from .random_weights import seeded_model

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


def tiny_qwen3_model(seed=123, cfg=TINY_QWEN3_CONFIG):
    """A seeded, randomly initialized tiny Qwen3 model in eval mode (the
    global random state is left as it was)."""
    return seeded_model(cfg, seed).eval()
