"""A small Qwen3 with the real vocabulary, for tests that need the real
tokenizer (the command-line generator): 2 layers of width 32, about 10
million parameters (20 MB in bfloat16), so a checkpoint is written and
loaded in a fraction of a second.

Run as a script, it is ``ch02-generate`` with this model in place of
Qwen3 0.6B, for the tests that need a process of their own:

    python tests/small_model.py --prompt Hi --out-dir DIR
"""

import sys

from helpers.tiny_model import SMALL_QWEN3_CONFIG

if __name__ == "__main__":
    from helpers.cli import command as cli

    sys.exit(cli.main(cfg=SMALL_QWEN3_CONFIG))
