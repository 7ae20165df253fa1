"""How much the KV cache saves as the text grows (bonus folder 03): the
book's streaming loops with and without the cache, timed per token after
the first (which reads the prompt in both)."""

import statistics
import time

import torch

from .ch02 import (
    generate_text_basic_stream,
    generate_text_basic_stream_cache,
)
from .timing import synchronize


def token_times_ms(token_stream, device):
    """Milliseconds each token of ``token_stream`` took to arrive."""
    times = []
    synchronize(device)
    last = time.perf_counter()
    for token in token_stream:
        token.item()  # wait until the token exists
        now = time.perf_counter()
        times.append((now - last) * 1000)
        last = now
    return times


def ms_per_token(stream_fn, model, prompt, new_tokens):
    """Median milliseconds between tokens after the first one."""
    times = token_times_ms(stream_fn(model, prompt, new_tokens),
                           prompt.device)
    return statistics.median(times[1:])


def kv_cache_vs_length(model, lengths, new_tokens, printer=print):
    """One result per prompt length: ``prompt_tokens``,
    ``ms_per_token_no_cache``, ``ms_per_token_cache`` and ``speedup``.
    Prints a table row per length as it is measured."""
    if new_tokens < 2:
        raise ValueError(f"new_tokens must be >= 2 (the first token is "
                         f"the prompt's pass), got {new_tokens}.")
    device = model.tok_emb.weight.device
    generator = torch.Generator().manual_seed(0)
    printer(f"{'prompt':>8} {'no cache (ms)':>14} {'cache (ms)':>11} "
            f"{'speedup':>9}")
    results = []
    for length in lengths:
        prompt = torch.randint(0, model.cfg["vocab_size"], (1, length),
                               generator=generator).to(device)
        no_cache = ms_per_token(generate_text_basic_stream, model, prompt,
                                new_tokens)
        cache = ms_per_token(generate_text_basic_stream_cache, model,
                             prompt, new_tokens)
        results.append({
            "prompt_tokens": length,
            "ms_per_token_no_cache": round(no_cache, 2),
            "ms_per_token_cache": round(cache, 2),
            "speedup": round(no_cache / cache, 2),
        })
        printer(f"{length:>8} {no_cache:>14.1f} {cache:>11.1f} "
                f"{no_cache / cache:>8.1f}x")
    return results


def plot_kv_cache_vs_length(results, title, path=None):
    """Milliseconds per token against prompt length, with and without the
    cache, and the speedups; saved to ``path`` (PNG) or shown."""
    import matplotlib.pyplot as plt

    lengths = [r["prompt_tokens"] for r in results]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(lengths, [r["ms_per_token_no_cache"] for r in results],
            marker="o", label="without KV cache (generate_text_basic)")
    ax.plot(lengths, [r["ms_per_token_cache"] for r in results],
            marker="o", label="with KV cache (generate_text_basic_cache)")
    for r in results:
        ax.annotate(f"{r['speedup']:.1f}x",
                    (r["prompt_tokens"], r["ms_per_token_no_cache"]),
                    textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.margins(x=0.08, y=0.12)  # room for the labels above the points
    ax.set_xlabel("Prompt length (tokens)")
    ax.set_ylabel("Milliseconds per generated token")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is None:
        plt.show()
    else:
        fig.savefig(path, dpi=120)
    plt.close(fig)
