"""Benchmark: ``ch02-generate``'s two engines on the same prompt, in one
run: the tokens/sec the command itself reports with ``--engine book``
and with ``--engine fast``.

    uv run python ch02/03_faster-generation/benchmark_cli.py

No download: random weights with Qwen3 0.6B's shapes and the tokenizer
(rebuilt offline) go into a temporary folder, and every answer runs to
``--max-new-tokens``. Each engine answers the prompt ``--repeats`` + 1
times in one interactive session; the first answer is a warm-up (the
fast engine compiles before it), the others are timed.
"""

import argparse
import contextlib
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from helpers import cli
from helpers.arg_types import int_at_least
from helpers.cpu_kind import cpu_kind
from helpers.files.offline_tokenizer import rebuild_qwen3_tokenizer
from helpers.files.random_weights import write_random_checkpoint
from helpers.tiny_model import SMALL_QWEN3_CONFIG

STATS = re.compile(r"\[(\d+) tokens, ([\d.]+) s, ([\d.]+) tokens/sec, "
                   r"(\w+) engine\]")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="Explain large language "
                        "models.", help="the prompt both engines answer")
    parser.add_argument("--max-new-tokens", type=int_at_least(1),
                        default=128, metavar="N",
                        help="tokens per answer (default 128)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed answers per engine (default 3)")
    parser.add_argument("--dtype", default="auto",
                        choices=["auto", "bfloat16", "float32"],
                        help="passed to ch02-generate (default auto)")
    parser.add_argument("--small", action="store_true",
                        help="a 2-layer model with the real vocabulary "
                        "(a smoke test, not a benchmark)")
    return parser.parse_args(argv)


def answers(engine, folder, args, cfg):
    """Run ``ch02-generate --engine ENGINE`` on the prompt repeated, in
    this process; return its standard error (the stats lines)."""
    argv = ["--engine", engine, "--max-new-tokens", str(args.max_new_tokens),
            "--dtype", args.dtype, "--device", "cpu", "--out-dir",
            str(folder)]
    stdin = io.StringIO(f"{args.prompt}\n" * (args.repeats + 1))
    err, old_stdin = io.StringIO(), sys.stdin
    sys.stdin = stdin
    try:
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv, cfg)
    finally:
        sys.stdin = old_stdin
    if code != 0:
        raise SystemExit(f"ch02-generate --engine {engine} failed "
                         f"(exit {code}):\n{err.getvalue()}")
    return err.getvalue()


def main(argv=None):
    args = parse_args(argv)
    cfg = SMALL_QWEN3_CONFIG if args.small else QWEN_CONFIG_06_B
    os.environ["QWEN3_RANDOM_WEIGHTS"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    folder = Path(tempfile.mkdtemp(prefix="benchmark-cli-"))
    try:
        rebuild_qwen3_tokenizer(folder / "tokenizer-base.json")
        write_random_checkpoint(folder / "qwen3-0.6B-base.pth", cfg)
        logs = {engine: answers(engine, folder, args, cfg)
                for engine in ("book", "fast")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    name = "small 2-layer model" if args.small else "Qwen3 0.6B"
    print(f"ch02-generate, {name}, random weights, CPU "
          f"({cpu_kind()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, --dtype {args.dtype}")
    print(f"Prompt {args.prompt!r}, {args.max_new_tokens} new tokens, "
          f"{args.repeats} timed answers per engine (median; the first "
          "answer is a warm-up)")
    speed = {}
    for engine, log in logs.items():
        stats = STATS.findall(log)
        if len(stats) != args.repeats + 1 or {s[3] for s in stats} != {
            engine
        }:
            raise SystemExit(f"unexpected output of --engine {engine}:\n"
                             f"{log}")
        speed[engine] = statistics.median(float(s[2]) for s in stats[1:])
        chosen = re.search(r"The model runs in (\w+)", log)
        dtype = chosen.group(1) if chosen else args.dtype
        compiled = re.search(r"\[compiled in (\d+) s\]", log)
        note = f", compiled in {compiled.group(1)} s" if compiled else ""
        print(f"  --engine {engine:<5} {speed[engine]:7.1f} tokens/sec "
              f"({dtype}{note})")
    print(f"The fast engine: {speed['fast'] / speed['book']:.2f}x the "
          "book engine's tokens/sec")
    return 0


if __name__ == "__main__":
    sys.exit(main())
