"""The book's printed results with the real files, as the weekly workflow
checks them (``.github/workflows/real-model.yml``).

    uv run python tests/real_model_check.py             # the real files
    uv run python tests/real_model_check.py --dry-run   # random weights

It downloads the real tokenizer and weights through
``download_qwen3_small``, runs the chapter's first steps as the notebook
does, and checks what the book prints and the hardware cannot change: the
prompt's token ids, the logits' shape, the next token 20286 (" Large"),
and the first words of Listing 2.2's answer. ``--dry-run`` writes random
weights instead (no network) and checks what does not depend on them.
"""

import argparse
import os
import sys
from pathlib import Path

import torch
from reasoning_from_scratch.qwen3 import (
    QWEN_CONFIG_06_B,
    Qwen3Model,
    Qwen3Tokenizer,
)

from helpers import download_qwen3_small, generate_text_basic

PROMPT_IDS = [840, 20772, 3460, 4128, 4119, 13]  # section 2.4
NEXT_TOKEN = 20286  # section 2.6: " Large"
ANSWER_START = "Large language models are artificial intelligence systems"


def check(what, got, expected):
    if got != expected:
        sys.exit(f"✗ {what}: expected {expected!r}, got {got!r}")
    print(f"✓ {what}: {got!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="random weights, no network: check only "
                        "what does not depend on the weights")
    parser.add_argument("--out-dir", type=Path, default=Path("qwen3"),
                        help="folder for the model files (default qwen3)")
    args = parser.parse_args(argv)
    if args.dry_run:
        os.environ.update(QWEN3_RANDOM_WEIGHTS="1", HF_HUB_OFFLINE="1")

    download_qwen3_small(kind="base", tokenizer_only=False,
                         out_dir=args.out_dir)
    tokenizer = Qwen3Tokenizer(
        tokenizer_file_path=args.out_dir / "tokenizer-base.json")
    model = Qwen3Model(QWEN_CONFIG_06_B)
    model.load_state_dict(torch.load(args.out_dir / "qwen3-0.6B-base.pth"))

    token_ids = tokenizer.encode("Explain large language models.")
    check("prompt token ids", token_ids, PROMPT_IDS)
    with torch.inference_mode():
        logits = model(torch.tensor(token_ids).unsqueeze(0)).squeeze(0)
    check("logits shape", tuple(logits.shape), (6, 151936))
    check("token 20286", tokenizer.decode([NEXT_TOKEN]), " Large")
    check("EOS id", tokenizer.eos_token_id, 151643)
    if args.dry_run:
        print("(dry run: the next token and the answer need the real "
              "weights)")
        return 0
    check("next token", int(logits[-1].argmax()), NEXT_TOKEN)
    prompt = "Explain large language models in a single sentence."
    answer = generate_text_basic(
        model, torch.tensor(tokenizer.encode(prompt)).unsqueeze(0), 12,
        eos_token_id=tokenizer.eos_token_id)
    text = tokenizer.decode(answer.squeeze(0).tolist()).strip()
    check("Listing 2.2's answer", text[:len(ANSWER_START)], ANSWER_START)
    return 0


if __name__ == "__main__":
    sys.exit(main())
