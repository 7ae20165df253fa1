"""Benchmark: the cost per generated token of greedy decoding, top-p
sampling, stop strings and beam search, on both backends of the one
decoding loop (the book's model with its KV cache, and the compiled
``FastGenerator``), measured side by side in one run.

    uv run python ch02/02_decoding-strategies/benchmark_decoding.py

Uses the full-size Qwen3 0.6B architecture with random weights, in the
dtype that decodes fastest here unless ``--dtype`` names one: speed does
not depend on the weights, so no download is needed. The modes
run alternately, after one warm-up run each (which compiles the fast
backend's step); the script prints the median milliseconds per generated
token, each mode's ratio to greedy decoding on its backend, and the fast
backend's speed-up over the book's. The stop string is one that random
text never reaches, so every mode generates all its tokens and what is
measured is the cost of checking the text after each token.
Random weights give flat next-token distributions, the worst case for
top-p (its nucleus holds most of the vocabulary, so the whole
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
    decoding_option,
    int_at_least,
    usable_device,
)
from helpers.cpu_kind import cpu_kind
from helpers.decoding import beam_search, generate
from helpers.decoding.filters import top_p_sorted
from helpers.decoding.sampling import top_p_filter
from helpers.fast import FastGenerator
from helpers.files.offline_tokenizer import rebuild_qwen3_tokenizer
from helpers.files.random_weights import seeded_model
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
    parser.add_argument("--top-p", type=decoding_option("top_p"),
                        default=0.9, metavar="P",
                        help="top-p of the sampling mode (default 0.9)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed runs per mode (default 3)")
    parser.add_argument("--no-compile", action="store_true",
                        help="run the fast backend's step without "
                        "torch.compile (quicker to start, slower)")
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


STOP_STRING = "\n\nQuestion 42:"  # random text never reaches it


def load_tokenizer(folder="qwen3"):
    """The Qwen3 tokenizer: the downloaded one, or rebuilt offline (a few
    seconds, into a temporary folder)."""
    import tempfile
    from pathlib import Path

    from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

    path = Path(folder) / "tokenizer-base.json"
    if not path.is_file():
        path = Path(tempfile.mkdtemp()) / "tokenizer-base.json"
        rebuild_qwen3_tokenizer(path)
    return Qwen3Tokenizer(tokenizer_file_path=path)


def decoding_modes(engine, prompt, n, args, generator, tokenizer):
    """name -> a call that generates n tokens (no EOS) on ``engine``."""
    return {
        "greedy": lambda: generate(engine, prompt, n),
        f"top-p sampling (p={args.top_p:g})": lambda: generate(
            engine, prompt, n, temperature=1.0, top_p=args.top_p,
            generator=generator),
        "greedy, stop string": lambda: generate(
            engine, prompt, n, stop_strings=[STOP_STRING],
            tokenizer=tokenizer),
        f"beam search (width {args.beam_width})": lambda: beam_search(
            engine, prompt, n, beam_width=args.beam_width),
    }


def main(argv=None):
    args = parse_args(argv)
    device, cfg = args.device, args.cfg
    model = seeded_model(cfg, seed=123).to(device).eval()
    generator = torch.Generator(device=device).manual_seed(1)
    prompt = torch.randint(0, cfg["vocab_size"], (1, args.prompt_tokens),
                           generator=generator, device=device)
    n = args.max_new_tokens
    tokenizer = load_tokenizer()
    fast = FastGenerator(model, max_seq_len=args.prompt_tokens + n,
                         max_batch_size=args.beam_width,
                         compile=not args.no_compile)
    backends = {"book": model, "fast": fast}
    calls = {(backend, name): fn
             for backend, engine in backends.items()
             for name, fn in decoding_modes(engine, prompt, n, args,
                                            generator, tokenizer).items()}
    for fn in calls.values():  # warm-up; the fast step compiles here
        fn()
    samples = {key: [] for key in calls}
    for _ in range(args.repeats):  # alternate, so all see the same load
        for key, fn in calls.items():
            samples[key].append(median_ms(fn, device, 1, per=n))
    ms = {key: statistics.median(values) for key, values in samples.items()}

    print(f"Model: {'tiny' if args.tiny else 'Qwen3 0.6B'} "
          f"({cfg['dtype']}), random weights, device {device}"
          + (f" ({cpu_kind()})" if device.type == "cpu" else "") + ", "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"Prompt {args.prompt_tokens} tokens, {n} new tokens, KV cache, "
          f"{args.repeats} timed runs each (median); fast backend "
          + ("compiled" if fast.compiled else "not compiled"))
    print(f"  {'mode':<26} {'book':>16} {'':>12} {'fast':>16} {'':>12}"
          f" {'fast vs book':>12}")
    for name in decoding_modes(model, prompt, n, args, generator, None):
        row = f"  {name:<26}"
        for backend in backends:
            value = ms[backend, name]
            ratio = value / ms[backend, "greedy"]
            row += f" {value:8.1f} ms/token {ratio:5.2f}x greedy"
        row += f" {ms['book', name] / ms['fast', name]:8.2f}x faster"
        print(row)
    extra = ms["fast", "greedy, stop string"] / ms["fast", "greedy"] - 1
    print(f"Stop strings on the fast backend: {extra:+.1%} per token over "
          "its greedy decoding")

    print(f"\nThe top-p filter alone, one row of {cfg['vocab_size']:,} "
          "logits (median of 20):")
    rows = torch.Generator().manual_seed(2)
    noise = torch.randn(1, cfg["vocab_size"], generator=rows).to(device)
    for label, scale in [("flat (random weights)", 0.5),
                         ("peaked (trained model)", 8.0)]:
        logits = noise * scale
        full = median_ms(lambda x=logits: top_p_sorted(x, 0.9),
                         device, 20)
        ours = median_ms(lambda x=logits: top_p_filter(x, 0.9), device, 20)
        print(f"  {label:<24} full sort {full:6.2f} ms, top_p_filter "
              f"{ours:6.2f} ms ({full / ours:4.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
