"""Benchmark: the cost per generated token of greedy decoding, top-p
sampling and beam search, measured side by side in one run.

    uv run python ch02/02_decoding-strategies/benchmark_decoding.py

Uses the full-size Qwen3 0.6B architecture with random weights, in the
dtype that decodes fastest here unless ``--dtype`` names one: speed does
not depend on the weights, so no download is needed. The modes
run alternately, after one warm-up run each; the script prints the median
milliseconds per generated token and each mode's ratio to greedy
decoding. Random weights give flat next-token distributions, the worst
case for top-p (its nucleus holds most of the vocabulary, so the whole
vocabulary is sorted); a second table times the top-p filter alone on a
flat and on a peaked distribution, as a trained model gives, against a
full sort. Timings vary with the machine and its load; compare only
numbers from the same run.
"""

import argparse
import statistics
import sys

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from helpers.arg_types import (
    add_dtype_argument,
    config_with_dtype,
    int_at_least,
    probability,
    usable_device,
)
from helpers.cpu_kind import cpu_kind
from helpers.decoding import beam_search, generate
from helpers.random_weights import seeded_model
from helpers.sampling import _top_p_filter_sorted, top_p_filter
from helpers.timing import median_seconds
from helpers.tiny_model import TINY_QWEN3_CONFIG


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam-width", type=int_at_least(1), default=4,
                        metavar="W", help="beams of beam search (default 4)")
    parser.add_argument("--max-new-tokens", type=int_at_least(1),
                        default=32, metavar="N",
                        help="tokens each mode generates (default 32)")
    parser.add_argument("--prompt-tokens", type=int_at_least(1),
                        default=16, metavar="N",
                        help="length of the random prompt (default 16)")
    parser.add_argument("--top-p", type=probability, default=0.9,
                        metavar="P", help="top-p of the sampling mode "
                        "(default 0.9)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed runs per mode (default 3)")
    parser.add_argument("--device", default="cpu")
    add_dtype_argument(parser)
    parser.add_argument("--tiny", action="store_true",
                        help="tiny model (a smoke test, not a benchmark)")
    args = parser.parse_args(argv)
    args.device = usable_device(parser, args.device)
    args.cfg = config_with_dtype(
        parser, args, TINY_QWEN3_CONFIG if args.tiny else QWEN_CONFIG_06_B,
        "decoding")
    n_tokens = args.prompt_tokens + args.max_new_tokens
    if n_tokens > args.cfg["context_length"]:
        parser.error(
            f"--prompt-tokens {args.prompt_tokens} and --max-new-tokens "
            f"{args.max_new_tokens} are {n_tokens} tokens, more than the "
            f"model's context length, {args.cfg['context_length']}"
        )
    return args


def median_ms(fn, device, repeats, per=1):
    """Median milliseconds of ``fn()`` over ``repeats`` runs, per item."""
    return median_seconds(fn, device, repeats) * 1000 / per


def main(argv=None):
    args = parse_args(argv)
    device, cfg = args.device, args.cfg
    model = seeded_model(cfg, seed=123).to(device).eval()
    generator = torch.Generator(device=device).manual_seed(1)
    prompt = torch.randint(0, cfg["vocab_size"], (1, args.prompt_tokens),
                           generator=generator, device=device)
    n = args.max_new_tokens

    # No EOS: every mode generates exactly n tokens
    modes = {
        "greedy": lambda: generate(model, prompt, n),
        f"top-p sampling (p={args.top_p:g})": lambda: generate(
            model, prompt, n, temperature=1.0, top_p=args.top_p,
            generator=generator),
        f"beam search (width {args.beam_width})": lambda: beam_search(
            model, prompt, n, beam_width=args.beam_width),
    }
    for fn in modes.values():  # warm-up
        fn()
    samples = {name: [] for name in modes}
    for _ in range(args.repeats):  # alternate, so all see the same load
        for name, fn in modes.items():
            samples[name].append(median_ms(fn, device, 1, per=n))

    print(f"Model: {'tiny' if args.tiny else 'Qwen3 0.6B'} "
          f"({cfg['dtype']}), random weights, device {device}"
          + (f" ({cpu_kind()})" if device.type == "cpu" else "") + ", "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"Prompt {args.prompt_tokens} tokens, {n} new tokens, KV cache, "
          f"{args.repeats} timed runs each (median)")
    greedy_ms = statistics.median(samples["greedy"])
    for name, values in samples.items():
        ms = statistics.median(values)
        print(f"  {name:<26} {ms:8.1f} ms/token  "
              f"{ms / greedy_ms:5.2f}x greedy")

    print(f"\nThe top-p filter alone, one row of {cfg['vocab_size']:,} "
          "logits (median of 20):")
    rows = torch.Generator().manual_seed(2)
    noise = torch.randn(1, cfg["vocab_size"], generator=rows).to(device)
    for label, scale in [("flat (random weights)", 0.5),
                         ("peaked (trained model)", 8.0)]:
        logits = noise * scale
        full = median_ms(lambda x=logits: _top_p_filter_sorted(x, 0.9),
                         device, 20)
        ours = median_ms(lambda x=logits: top_p_filter(x, 0.9), device, 20)
        print(f"  {label:<24} full sort {full:6.2f} ms, top_p_filter "
              f"{ours:6.2f} ms ({full / ours:4.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
