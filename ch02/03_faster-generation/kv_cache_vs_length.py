"""How much does the KV cache save as the text grows?

    uv run python ch02/03_faster-generation/kv_cache_vs_length.py
    uv run python ch02/03_faster-generation/kv_cache_vs_length.py \\
        --lengths 16 64 256 --new-tokens 8 --plot kv.png --json kv.json

For each prompt length, the script generates ``--new-tokens`` tokens with
the book's loop without the cache (every step runs the model on the whole
sequence) and with it (one pass over the prompt, then one token per step),
and times every token as it arrives (the Exercise 2.2 streaming loops).
The first token of both includes the pass over the whole prompt, so the
milliseconds per token are those of the tokens after it: the steady
state, where the two differ. It prints a table, and can save a plot and
JSON: where it ran (date, CPU, dtype) and ``rows`` of
``{"prompt_tokens", "ms_per_token_no_cache", "ms_per_token_cache",
"speedup"}``. ``--markdown JSON`` prints a saved run as the README's
table.

The full-size Qwen3 0.6B architecture with random weights (no
download), in the dtype ``--dtype`` names (default: the faster one here
for the loop without a cache). The two modes alternate per length, so
that both see the same load.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from helpers.arg_types import (
    add_dtype_argument,
    check_output_paths,
    config_with_dtype,
    int_at_least,
    read_json,
    usable_device,
)
from helpers.cpu_kind import cpu_kind, run_record
from helpers.dtype import dtype_name
from helpers.files.random_weights import seeded_model
from helpers.kv_cache_timing import (
    kv_cache_vs_length,
    plot_kv_cache_vs_length,
)
from helpers.tiny_model import TINY_QWEN3_CONFIG

DEFAULT_LENGTHS = [16, 64, 256, 1024, 2048]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Example: --lengths 16 64 256 --new-tokens 8",
    )
    parser.add_argument("--lengths", type=int_at_least(1), nargs="+",
                        default=DEFAULT_LENGTHS, metavar="N",
                        help="prompt lengths in tokens (default: "
                        f"{' '.join(map(str, DEFAULT_LENGTHS))})")
    at_least_two = int_at_least(2, " (the first token is the prompt's "
                                   "pass)")
    parser.add_argument("--new-tokens", type=at_least_two, default=8,
                        metavar="N", help="tokens generated per run "
                        "(default 8; the first one is the prompt's pass)")
    parser.add_argument("--plot", type=Path, metavar="PATH",
                        help="save a plot (PNG) here")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="save the results as JSON here")
    parser.add_argument("--markdown", type=Path, metavar="JSON",
                        help="print a saved run as a Markdown table, "
                        "then stop")
    parser.add_argument("--device", default="cpu",
                        help="where to run (default: cpu)")
    add_dtype_argument(parser)
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny model: checks the script, measures "
                        "nothing")
    args = parser.parse_args(argv)
    if args.markdown is not None:
        args.markdown = read_json(parser, args.markdown)
        return args
    cfg = TINY_QWEN3_CONFIG if args.tiny else QWEN_CONFIG_06_B
    longest = max(args.lengths) + args.new_tokens
    if longest > cfg["context_length"]:
        parser.error(f"--lengths: {max(args.lengths)} + --new-tokens "
                     f"{args.new_tokens} is more than the model's context "
                     f"length, {cfg['context_length']}")
    check_output_paths(parser, args.plot, args.json)
    args.device = usable_device(parser, args.device)
    args.cfg = config_with_dtype(parser, args, cfg, "prompts")
    return args


def markdown(run):
    """The README's table of a saved run: where it ran, then a row per
    prompt length."""
    lines = [f"{run['cpu'] or run['device']} ({run['cpu_kind'] or '-'}), "
             f"{run['dtype']}, {run['threads']} threads, torch "
             f"{run['torch']}, {run['date']}:", "",
             "| prompt tokens | no cache (ms/token) | KV cache (ms/token) "
             "| speedup |", "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['prompt_tokens']} | {r['ms_per_token_no_cache']:.1f} "
              f"| {r['ms_per_token_cache']:.1f} | {r['speedup']:.1f}x |"
              for r in run["rows"]]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.markdown is not None:
        print(markdown(args.markdown))
        return 0
    cfg = args.cfg
    model = seeded_model(cfg, seed=123).to(args.device).eval()
    title = (f"{'tiny model' if args.tiny else 'Qwen3 0.6B'} "
             f"({str(cfg['dtype']).removeprefix('torch.')}), "
             f"{args.device}"
             + (f" ({cpu_kind()})" if args.device.type == "cpu" else "")
             + f", {torch.get_num_threads()} threads")
    print(f"{title}, random weights; {args.new_tokens} new tokens per run, "
          "median ms per token after the first")
    results = kv_cache_vs_length(
        model, args.lengths, args.new_tokens,
        printer=lambda line: print(line, flush=True),
    )
    if args.json is not None:
        run = {**run_record(args.device), "device": args.device.type,
               "dtype": dtype_name(cfg["dtype"]),
               "new_tokens": args.new_tokens, "rows": results}
        args.json.write_text(json.dumps(run, indent=2) + "\n")
        print(f"Saved {args.json}")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        plot_kv_cache_vs_length(results, title, args.plot)
        print(f"Saved {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
