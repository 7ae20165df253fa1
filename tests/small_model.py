"""A small Qwen3 with the real vocabulary, for tests that need the real
tokenizer (the command-line generator): 2 layers of width 32, about 10
million parameters (20 MB in bfloat16), so a checkpoint is written and
loaded in a fraction of a second.

Run as a script, it is ``ch02-generate`` with this model in place of
Qwen3 0.6B, for the tests that need a process of their own:

    python tests/small_model.py --prompt Hi --out-dir DIR
"""

import sys

from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

SMALL_QWEN3_CONFIG = {
    **QWEN_CONFIG_06_B,
    "emb_dim": 32,
    "n_heads": 4,
    "n_layers": 2,
    "hidden_dim": 64,
    "head_dim": 8,
    "n_kv_groups": 2,
}

if __name__ == "__main__":
    from helpers import checkpoint, cli

    checkpoint.EXPECTED_CONFIG = SMALL_QWEN3_CONFIG
    sys.exit(cli.main())
