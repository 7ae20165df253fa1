"""Benchmark: time per generated token, beam search vs greedy (KV cache).

    uv run python ch02/02_decoding-strategies/benchmark_beam_search.py

Uses the full-size Qwen3 0.6B architecture with random weights in bfloat16:
speed does not depend on the weights, so no download is needed. Greedy
decoding with the book's KV-cache loop and beam search run alternately, after
one warm-up run each, and the script prints the median seconds per generated
token of each and their ratio. Timings vary with the machine and its load;
compare only numbers from the same run.
"""

import argparse
import statistics
import sys
import time

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B, Qwen3Model

from helpers import generate_text_basic_cache
from helpers.decoding import beam_search
from helpers.timing import synchronize
from helpers.tiny_model import TINY_QWEN3_CONFIG


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=float, default=2.0,
                        help="the ratio the result is compared against")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny model (a smoke test, not a benchmark)")
    return parser.parse_args(argv)


def seconds_per_token(fn, device, n_tokens):
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) / n_tokens


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    cfg = TINY_QWEN3_CONFIG if args.tiny else QWEN_CONFIG_06_B
    torch.manual_seed(123)
    model = Qwen3Model(cfg).to(device).eval()
    prompt = torch.randint(0, cfg["vocab_size"], (1, args.prompt_tokens),
                           device=device)
    n = args.max_new_tokens

    # No EOS: both generate exactly n tokens
    def greedy():
        out = generate_text_basic_cache(model, prompt, n)
        assert out.shape[1] == n

    def beam():
        out, _ = beam_search(model, prompt, n, beam_width=args.beam_width)
        assert out.shape[1] == n

    greedy()  # warm-up
    beam()
    times = {"greedy (KV cache)": [], f"beam search (width "
             f"{args.beam_width})": []}
    for _ in range(args.repeats):  # alternate, so both see the same load
        for samples, fn in zip(times.values(), (greedy, beam),
                               strict=True):
            samples.append(seconds_per_token(fn, device, n))

    print(f"Model: {'tiny' if args.tiny else 'Qwen3 0.6B'} "
          f"({cfg['dtype']}), random weights, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"Prompt {args.prompt_tokens} tokens, {n} new tokens, "
          f"{args.repeats} timed runs each (median shown)")
    medians = {}
    for name, samples in times.items():
        medians[name] = statistics.median(samples)
        print(f"  {name:<24} {medians[name] * 1000:8.1f} ms/token "
              f"({1 / medians[name]:.1f} tokens/sec)")
    greedy_t, beam_t = medians.values()
    ratio = beam_t / greedy_t
    verdict = "within" if ratio <= args.limit else "OVER"
    print(f"Ratio beam/greedy: {ratio:.2f}x ({verdict} the "
          f"{args.limit:g}x limit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
