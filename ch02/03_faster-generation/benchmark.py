"""How fast can it go? The book's four modes, its optimized model, the fast
path, Hugging Face transformers, and the memory-bandwidth limit, measured
side by side.

    uv run python ch02/03_faster-generation/benchmark.py
    uv run python ch02/03_faster-generation/benchmark.py --modes \\
        book-cache fast-compiled --batch-sizes --long-steps 0

The full-size Qwen3 0.6B architecture with random weights (the cost
does not depend on the weights), greedy decoding without EOS, so every
mode generates ``--new-tokens`` tokens. Each mode is warmed up first
(compiling happens there, reported apart), then the timed runs alternate
between the modes and the median of ``--repeats`` is reported.

The limit: a decoding step reads every weight once, so tokens/sec cannot
exceed the machine's read bandwidth (measured as STREAM does, between
every two timed runs) over a mode's bytes per token; each mode gets its
share of it.
``--peers llama.cpp`` adds llama.cpp on the same weights, timed after
each round (``llama_cpp_peer.py``); ``--profile``: where a fast step's
time goes.
Then a ``--pp``-token prompt (tokens/sec and the time to the first
token), larger batches, and the time per token over ``--long-steps``
steps. ``--markdown`` prints saved runs as the README's table.
"""

import argparse
import gc
import json
import re
import statistics
import sys
import time
from pathlib import Path

import torch
from reasoning_from_scratch import qwen3_optimized
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from helpers import generate_text_basic, generate_text_basic_cache
from helpers.arg_types import (
    add_dtype_argument,
    check_output_paths,
    config_with_dtype,
    int_at_least,
    read_json,
    usable_device,
)
from helpers.compile_support import torch_compile_works
from helpers.cpu_kind import (
    cpu_kind,
    cpu_name,
    last_level_cache_bytes,
    run_record,
)
from helpers.dtype import dtype_name
from helpers.fast import FastGenerator
from helpers.files.random_weights import seeded_model
from helpers.kv_cache_timing import token_times_ms
from helpers.timing import (
    measure_generation,
    median_seconds,
)
from helpers.tiny_model import TINY_QWEN3_CONFIG

# Engines that run beside ours on the same weights (llama_cpp_peer.py)
PEERS = ["llama.cpp"]
# Bytes per weight of llama.cpp's GGUF types (q8_0: 34 per block of 32),
# and the type that holds our dtype's weights unchanged
GGUF_BYTES_PER_WEIGHT = {"f32": 4, "bf16": 2, "q8_0": 34 / 32}
SAME_GGUF_TYPE = {"bfloat16": "bf16", "float32": "f32"}
DEFAULT_LLAMA_CPP_DIR = Path.home() / ".cache" / "ch02-llama.cpp"
MODES = {
    "book-regular": "book: regular",
    "book-regular-compiled": "book: regular compiled",
    "book-cache": "book: KV cache",
    "book-cache-compiled": "book: KV cache compiled",
    "optimized": "book's qwen3_optimized",
    "optimized-compiled": "book's qwen3_optimized compiled",
    "fast-eager": "fast path (eager)",
    "fast-compiled": "fast path (compiled)",
    "fast-compiled-int8": "fast path (compiled, int8 weights)",
    "hf-dynamic": "transformers (dynamic cache)",
    "hf-static-compiled": "transformers (static cache, compiled)",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="modes: " + ", ".join(MODES),
    )
    parser.add_argument("--modes", nargs="+", choices=list(MODES),
                        default=list(MODES), metavar="MODE",
                        help="which modes to run (default: all)")
    parser.add_argument("--new-tokens", type=int_at_least(1), default=128,
                        metavar="N", help="tokens per run (default 128, "
                        "llama-bench's tg128)")
    parser.add_argument("--prompt-tokens", type=int_at_least(1), default=10,
                        metavar="N", help="prompt length (default 10)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        metavar="N", help="timed runs per mode (default 3)")
    parser.add_argument("--batch-sizes", type=int_at_least(1), nargs="*",
                        default=[1, 4, 8], metavar="B",
                        help="batch sizes for the compiled fast path "
                        "(default 1 4 8; none to skip)")
    parser.add_argument("--long-steps", type=int_at_least(0),
                        default=1000, metavar="N",
                        help="time every token of one N-token run of the "
                        "fast path (default 1000; 0 to skip)")
    parser.add_argument("--pp", type=int_at_least(0), default=512,
                        metavar="N", help="time reading an N-token prompt "
                        "and the first token (default 512; 0 to skip)")
    parser.add_argument("--profile", action="store_true",
                        help="where a step of the compiled fast path "
                        "spends its time, in ms per token")
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=[],
                        metavar="NAME", help="other engines to run on the "
                        "same weights: llama.cpp (built on a first run; "
                        "default: none)")
    parser.add_argument("--llama-cpp-dir", type=Path,
                        default=DEFAULT_LLAMA_CPP_DIR, metavar="DIR",
                        help="where llama.cpp's source and build are kept "
                        f"(default {DEFAULT_LLAMA_CPP_DIR})")
    parser.add_argument("--device", default=None,
                        help="where to run (default: cuda if available, "
                        "else cpu)")
    add_dtype_argument(parser)
    parser.add_argument("--plot", type=Path, metavar="PATH",
                        help="save the charts (PNG) here")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="save the results as JSON here")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny float32 model: checks the script, "
                        "measures nothing")
    parser.add_argument("--markdown", type=Path, nargs="+", metavar="JSON",
                        help="print saved runs as the README's table, "
                        "then stop")
    args = parser.parse_args(argv)
    if args.markdown is not None:
        args.markdown = {path.stem: read_json(parser, path)
                         for path in args.markdown}
        return args
    check_output_paths(parser, args.plot, args.json)
    args.device = usable_device(
        parser, args.device or ("cuda" if torch.cuda.is_available()
                                else "cpu"))
    args.cfg = config_with_dtype(
        parser, args, TINY_QWEN3_CONFIG if args.tiny else QWEN_CONFIG_06_B,
        "decoding")
    context = args.cfg["context_length"]
    if args.pp >= context:
        parser.error(f"--pp {args.pp}: the prompt and its first token "
                     f"must fit the model's context length, {context}")
    for name, n in (("--new-tokens", args.new_tokens),
                    ("--long-steps", args.long_steps)):
        if args.prompt_tokens + n > context:
            parser.error(f"--prompt-tokens {args.prompt_tokens} + {name} "
                         f"{n} is more than the model's context length, "
                         f"{context}")
    return args


# The limit ---------------------------------------------------------------

def bytes_per_token(model):
    """Bytes of weights one decoding step reads: all of them, except the
    embedding, of which it reads one row."""
    return sum(p.numel() * p.element_size()
               for name, p in model.named_parameters()
               if name != "tok_emb.weight")


def read_bandwidth(device, repeats=3):
    """Bytes per second the run's threads read from memory, as STREAM
    measures it: the best of ``repeats`` reads of a float32 array of four
    times the last-level cache (1 GiB at least), as a sum and as a
    matrix-vector product (whose kernels read several rows at once)."""
    n = max(2**30, 4 * last_level_cache_bytes()) // 4 // 1024 * 1024
    x = torch.ones(n, device=device)
    rows, v = x.view(-1, 1024), torch.ones(1024, device=device)
    reads = (x.sum, lambda: torch.mv(rows, v))
    for read in reads:
        read()  # warm-up: the pages and the threads
    return 4 * n / min(median_seconds(read, device, 1)
                       for read in reads for _ in range(repeats))


def peer_bytes(n_bytes, dtype, gguf_type):
    """Bytes a llama.cpp step reads in ``gguf_type`` where our step reads
    ``n_bytes`` of the same weights in ``dtype``."""
    return round(n_bytes * 8 / torch.finfo(dtype).bits
                 * GGUF_BYTES_PER_WEIGHT[gguf_type])


def share_of_limit(runs, n_bytes, limits):
    """Percent of the read limit a mode reaches at its own ``n_bytes`` per
    token: the median over its ``runs`` (tokens/sec) of each run's share
    of the bandwidth read beside it (``limits``, one per run); None above
    100, where the limit is wrong, not the mode fast."""
    share = round(100 * statistics.median(
        speed * n_bytes / limit
        for speed, limit in zip(runs, limits, strict=True)), 1)
    return share if share <= 100 else None


# The modes ---------------------------------------------------------------

def book_mode(model, loop, compiled):
    if compiled:
        torch._dynamo.config.allow_unspec_int_on_nn_module = True
        model = torch.compile(model)
    return lambda prompt, n: loop(model, prompt, n)


def transformers_mode(hf, static):
    if static:  # the recipe transformers documents for speed
        hf.forward = torch.compile(hf.forward, fullgraph=True)

    def run(prompt, n):
        out = hf.generate(
            prompt, attention_mask=torch.ones_like(prompt),
            max_new_tokens=n, min_new_tokens=n, do_sample=False,
            pad_token_id=0,
            cache_implementation="static" if static else None,
        )
        return out[:, prompt.shape[1]:]

    return run


def optimized_mode(model, max_seq_len, compiled):
    """The book's ``qwen3_optimized.Qwen3Model`` (its own KV cache, SDPA
    attention) on the same weight tensors, with its generation loop."""
    cfg = {**model.cfg, "context_length": max_seq_len}  # the cache's size
    with torch.device("meta"):
        optimized = qwen3_optimized.Qwen3Model(cfg)
    optimized.load_state_dict(model.state_dict(), assign=True)
    rope = qwen3_optimized.compute_rope_params(
        cfg["head_dim"], cfg["rope_base"], max_seq_len)
    optimized.cos, optimized.sin = (t.to(model.cos.device) for t in rope)
    return book_mode(optimized, qwen3_optimized.generate_text_basic_cache,
                     compiled)


def build_modes(model, args, max_seq_len):
    """name -> generate(prompt, n), and name -> bytes per token for the
    fast path's modes (int8 weights are fewer). The fast path is set up
    first: it moves the model's weights into fused tensors, which the
    compiled book modes must see from their first call on."""
    fns, fast_bytes = {}, {}
    compiles = torch_compile_works(args.device)
    for key in args.modes:
        if key == "fast-eager":
            fast = FastGenerator(model, max_seq_len, compile=False)
        elif key.startswith("fast-compiled"):
            fast = FastGenerator(model, max_seq_len, compile=compiles,
                                 weights="int8" if "int8" in key else None)
        else:
            continue
        fns[key], fast_bytes[key] = fast.generate, fast.weight_bytes
    for key in args.modes:
        compiled = compiles and key.endswith("compiled")
        if key.startswith("book-"):
            loop = (generate_text_basic_cache if "cache" in key
                    else generate_text_basic)
            fns[key] = book_mode(model, loop, compiled)
        elif key.startswith("optimized"):
            fns[key] = optimized_mode(model, max_seq_len, compiled)
    for key in args.modes:
        if key.startswith("hf-"):  # one model each: one gets compiled
            # beside this script; transformers is a dev dependency
            from transformers_bridge import to_transformers

            fns[key] = transformers_mode(to_transformers(model),
                                         compiles and "static" in key)
    return {key: fns[key] for key in args.modes}, fast_bytes


def timed(fn, prompt, n):
    """(seconds, peak GPU memory in GB or None) of one run."""
    result = measure_generation(lambda _model, ids, steps, _eos:
                                fn(ids, steps), None, prompt, n)
    out = result["output"]
    assert out.shape[1] == n, f"{out.shape[1]} tokens instead of {n}"
    return result["seconds"], result["peak_memory_gb"]


# Reading a prompt ---------------------------------------------------------

def prompt_reading(model, args):
    """Time to the first token after a ``--pp``-token prompt, and the
    prompt tokens/sec it implies, for the book's KV-cache model and the
    fast path; each warmed up once, then the median of ``--repeats``
    alternating runs."""
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, args.cfg["vocab_size"], (1, args.pp),
                           generator=generator).to(args.device)
    # Only the prefill is timed here, uncompiled (as the book's) and, with
    # the compiled fast path, compiled (its warm-up compiles it)
    fast = FastGenerator(model, args.pp + 1, compile=False)
    if fast.decoder.prompt_dtype is not None:
        print(f"  (the fast path reads prompts with "
              f"{dtype_name(fast.decoder.prompt_dtype)} matrix products: "
              f"this CPU computes {dtype_name(args.cfg['dtype'])} slowly)",
              flush=True)
    fns = {"book: KV cache": lambda ids, n: generate_text_basic_cache(
               model, ids, n),
           "fast path": fast.generate}
    if "fast-compiled" in args.modes and torch_compile_works(args.device):
        compiled = FastGenerator(model, args.pp + 1, compile=False,
                                 compile_prefill=True)
        print(f"  compiling the fast path's prefill: "
              f"{compiled.warm_up():.1f} s", flush=True)
        fns["fast path (compiled prefill)"] = compiled.generate
    if "fast-compiled-int8" in args.modes:
        fns["fast path (int8)"] = FastGenerator(
            model, args.pp + 1, compile=False, weights="int8").generate
    seconds = {name: [] for name in fns}
    for fn in fns.values():
        timed(fn, prompt, 1)  # warm-up
    for _ in range(args.repeats):
        for name, fn in fns.items():
            seconds[name].append(timed(fn, prompt, 1)[0])
    rows = []
    for name in fns:
        ttft = statistics.median(seconds[name])
        dtype = args.cfg["dtype"]
        if name.startswith("fast") and fast.decoder.prompt_dtype:
            dtype = fast.decoder.prompt_dtype  # every fast mode's, as here
        rows.append({"mode": name, "prompt_tokens": args.pp,
                     "prompt_dtype": dtype_name(dtype),
                     "prompt_tokens_per_sec": round(args.pp / ttft, 1),
                     "time_to_first_token_s": round(ttft, 5)})
        print(f"  {name:<28} pp{args.pp}: {args.pp / ttft:8.1f} "
              f"tokens/sec, time to first token {ttft:6.2f} s",
              flush=True)
    return rows


def side_by_side(results, reading, peers, dtype):
    """The fast path's ratios to llama.cpp at the same bytes per weight:
    our bfloat16 against the bf16 GGUF (or float32 against f32, where the
    model runs in float32), our int8 weights against q8_0."""
    # The prompt: the compiled prefill where it ran, else the eager one
    pairs = [("fast-compiled", ["fast path (compiled prefill)", "fast path"],
              SAME_GGUF_TYPE.get(dtype)),
             ("fast-compiled-int8", ["fast path (int8)"], "q8_0")]
    for key, prefill_modes, gguf_type in pairs:
        same = next((p for p in peers if p["gguf_type"] == gguf_type), None)
        fast = next((r for r in results if r["mode"] == MODES[key]), None)
        prefill = next((r for mode in prefill_modes for r in reading
                        if r["mode"] == mode), None)
        if same is not None and (fast or prefill):
            _print_ratios(MODES[key], fast, prefill, same)


def _print_ratios(name, fast, prefill, same):
    print(f"\n{name} against llama.cpp ({same['gguf_type']} GGUF):")
    if fast:
        ratio = fast["tokens_per_sec"] / same["tokens_per_sec"]
        print(f"  decoding: {ratio:.2f}x llama.cpp's tokens/sec")
    if prefill and same["prompt_tokens_per_sec"]:
        ratio = (prefill["prompt_tokens_per_sec"]
                 / same["prompt_tokens_per_sec"])
        print(f"  prompt, {prefill['mode']}: {ratio:.2f}x llama.cpp's "
              "tokens/sec; time to first token "
              f"{prefill['time_to_first_token_s']:.2f} s vs "
              f"{same['time_to_first_token_s']:.2f} s")


def markdown(runs):
    """The README's table: a row per saved run (its file's name), with
    where and when it ran and the decoding tokens/sec at batch 1 of the
    book's best KV-cache mode, the fast path (and its share of the read
    limit, in runs that measured it), int8 weights and llama.cpp, and
    the prompt's tokens/sec against llama.cpp's."""
    def speed(rows, *modes, key="tokens_per_sec"):
        """The best of ``rows`` (of ``modes`` if named)."""
        found = [r[key] for r in rows
                 if (not modes or r["mode"] in modes)
                 and r.get(key) is not None]
        return f"{max(found):.1f}" if found else "-"

    threads = {run["threads"] for run in runs.values()}
    cpu = f"CPU, {min(threads)} threads" if len(threads) == 1 else "CPU"
    lines = [f"| run | {cpu} | dtype | date | book's best | fast path | "
             "of read limit | int8 | llama.cpp, same dtype | "
             "llama.cpp q8_0 | prompt: fast path / llama.cpp |",
             "|---" * 11 + "|"]
    for name, run in runs.items():
        modes, peers = run["modes"], run.get("peers", [])
        same = SAME_GGUF_TYPE.get(run["dtype"])
        peer = [p for p in peers if p["gguf_type"] == same]
        q8_0 = [p for p in peers if p["gguf_type"] == "q8_0"]
        prompt = speed(run.get("prompt_reading", []), "fast path",
                       "fast path (compiled prefill)",
                       key="prompt_tokens_per_sec")
        peer_prompt = speed(peer, key="prompt_tokens_per_sec")
        share = "-"  # older runs measured no read limit
        if "read_bandwidth_gb_s" in run:
            share = speed(modes, MODES["fast-compiled"],
                          key="percent_of_limit")
            share = "above: limit wrong" if share == "-" else f"{share}%"
        lines.append(" | ".join([
            f"| `{name}`",
            f"{run.get('cpu') or run['hardware']} "
            f"({run.get('cpu_kind') or '-'})"
            + ("" if len(threads) == 1 else f", {run['threads']} threads"),
            run["dtype"], run.get("date", "-"),
            speed(modes, MODES["book-cache"], MODES["book-cache-compiled"]),
            speed(modes, MODES["fast-compiled"]), share,
            speed(modes, MODES["fast-compiled-int8"]),
            speed(peer), speed(q8_0),
            f"{prompt} / {peer_prompt} |"]))
    profiled = {name: run for name, run in runs.items()
                if run.get("profile_ms_per_token")}
    if profiled:  # where a compiled fast-path step goes, ms per token
        groups = list(next(iter(profiled.values()))["profile_ms_per_token"])
        lines += ["", "| run | " + " | ".join(groups)
                  + " | in all | llama.cpp, same dtype |",
                  "|---" * (len(groups) + 3) + "|"]
        for name, run in profiled.items():
            ms = run["profile_ms_per_token"]
            same = SAME_GGUF_TYPE.get(run["dtype"])
            peer = [1e3 / p["tokens_per_sec"] for p in run.get("peers", [])
                    if p["gguf_type"] == same]
            lines.append(" | ".join(
                [f"| `{name}`", *(f"{ms[g]:.2f}" for g in groups),
                 f"{sum(ms.values()):.2f}",
                 f"{peer[0]:.2f} |" if peer else "- |"]))
    return "\n".join(lines)


def int8_accuracy(model, args, steps=200):
    """How far int8 weights move the model: the fast path with its own
    weights and with int8 weights read the same text (a random prompt,
    then the own weights' greedy tokens), step by step; how often their
    greedy choices agree and the largest logit difference."""
    n_prompt = args.prompt_tokens
    steps = min(steps, model.cfg["context_length"] - n_prompt)
    own = FastGenerator(model, n_prompt + steps, compile=False)
    int8 = FastGenerator(model, n_prompt + steps, compile=False,
                         weights="int8")
    prompt = random_prompt(args, 1)
    agree, max_diff, spread = 0, 0.0, 0.0
    with torch.inference_mode():
        (logits, greedy), (logits8, greedy8) = (own.prefill(prompt),
                                                int8.prefill(prompt))
        for step in range(steps):
            agree += int(bool((greedy == greedy8).all()))
            max_diff = max(max_diff, float(
                (logits.float() - logits8.float()).abs().max()))
            spread = max(spread, float(logits.float().std()))
            if step + 1 < steps:
                (logits, _), (logits8, greedy8) = (own.step(greedy),
                                                   int8.step(greedy))
                greedy = logits.argmax(dim=-1, keepdim=True)
    print(f"\nint8 weights against the model's own ({steps} steps of "
          f"its greedy text): the same greedy token at {agree} of "
          f"{steps}; largest logit difference {max_diff:.3f} (the "
          f"logits' standard deviation: {spread:.2f})", flush=True)
    return {"steps": steps, "greedy_agreement": agree,
            "max_logit_difference": round(max_diff, 4),
            "logits_std": round(spread, 3)}


# Batches and long runs -----------------------------------------------------

def batch_throughput(model, args):
    """Aggregate tokens/sec of the compiled fast path per batch size."""
    rows = []
    n = args.new_tokens
    for batch in args.batch_sizes:
        torch._dynamo.reset()
        gc.collect()
        fast = FastGenerator(model, args.prompt_tokens + n,
                             max_batch_size=batch,
                             compile=torch_compile_works(args.device))
        prompt = random_prompt(args, batch)
        fast.warm_up(batch)
        best = min(timed(fast.generate, prompt, n)[0]
                   for _ in range(args.repeats))
        rows.append({"batch_size": batch,
                     "aggregate_tokens_per_sec": round(batch * n / best, 2),
                     "warm_up_seconds": round(fast.warm_up_seconds, 1)})
        print(f"  batch {batch:>2}: {batch * n / best:7.1f} tokens/sec "
              f"in all (warm-up {fast.warm_up_seconds:.0f} s)", flush=True)
        del fast
    return rows


def per_token_times(model, args):
    """Milliseconds of every token of one long run of the fast path."""
    torch._dynamo.reset()
    gc.collect()
    steps = args.long_steps
    fast = FastGenerator(model, args.prompt_tokens + steps,
                         compile=torch_compile_works(args.device))
    fast.warm_up(1)
    times = token_times_ms(fast.stream(random_prompt(args, 1), steps),
                           args.device)
    return times, fast.kv_cache_bytes


# Kernels by what they do, from their names in the profile: inductor's
# C++ matrix templates are "graph_<n>_kernel", its fused kernels
# "graph_<n>_cpp_fused_..." (with the other aten ops "other kernels");
# aten's bookkeeping (views, empty tensors) belongs to the wrapper
KERNELS = {"weight products": r"^(aten::(linear|addmm|mm)|mkl(dnn)?::|"
                              r"aten::_weight_int8pack|graph_\d+_kernel$)",
           "attention": r"^aten::.*attention"}
BOOKKEEPING = (r"^aten::(empty|empty_like|empty_strided|as_strided|view|"
               r"transpose|expand|slice|_unsafe_view|reshape|select)$")


def kernel_group(name):
    """The group of a profiled event's ``name``, or None where it is not
    a kernel (the wrapper's work)."""
    if re.search(BOOKKEEPING, name) or not re.search(
            r"^(aten|mkl|mkldnn)::|^graph_\d+_|cpp_fused", name):
        return None
    return next((group for group, pattern in KERNELS.items()
                 if re.search(pattern, name)), "other kernels")


def profile_step(model, args, peers, steps=32, rounds=3):
    """Where a step of the compiled fast path spends its time, in ms per
    token: the weight products, attention, the other kernels (inductor's
    own, profiled by name) and what lies outside kernels (the Python
    wrapper, threads waking up, the profiler's own bookkeeping), all from
    the same profiled steps, as the machine's speed drifts between runs;
    llama.cpp's total beside it. Each the median of ``rounds`` runs."""
    from torch.profiler import ProfilerActivity, profile

    torch._dynamo.reset()
    fast = FastGenerator(model, args.prompt_tokens + steps + 1,
                         compile=torch_compile_works(args.device))
    with torch._inductor.config.patch({"cpp.enable_kernel_profile": True}):
        fast.warm_up(1)
    groups = []
    with torch.inference_mode():
        for _ in range(rounds):
            _, token = fast.prefill(random_prompt(args, 1))
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                start = time.perf_counter()
                for _ in range(steps):
                    _, token = fast.step(token)
                wall = (time.perf_counter() - start) * 1e3 / steps
            ms = dict.fromkeys([*KERNELS, "other kernels"], 0.0)
            for event in prof.key_averages():
                group = kernel_group(event.key)
                if group is not None:
                    ms[group] += event.self_cpu_time_total / 1e3 / steps
            ms["outside kernels"] = max(0.0, wall - sum(ms.values()))
            groups.append(ms)
    ms = {group: round(statistics.median(g[group] for g in groups), 3)
          for group in ms}
    print(f"\nWhere a compiled fast-path step goes (median of {rounds} "
          f"runs of {steps} steps, ms per token):")
    for group, value in ms.items():
        print(f"  {group:<20}{value:8.2f}")
    print(f"  {'in all':<20}{sum(ms.values()):8.2f}")
    for row in peers:
        print(f"  {row['mode']:<20}{1e3 / row['tokens_per_sec']:8.2f}")
    return ms


def random_prompt(args, batch):
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, args.cfg["vocab_size"],
                         (batch, args.prompt_tokens),
                         generator=generator).to(args.device)


# Report ------------------------------------------------------------------

def plot(path, results, limits, batches, per_token, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 1 + bool(batches) + bool(per_token)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.2))
    axes = [axes] if panels == 1 else list(axes)
    ax = axes.pop(0)
    names = [r["mode"] for r in results][::-1]
    ax.barh(names, [r["tokens_per_sec"] for r in results][::-1],
            color=["tab:orange" if "fast" in n else "tab:green"
                   if "llama.cpp" in n else "tab:blue" for n in names])
    for (label, value), style in zip(limits.items(), ["--", ":"],
                                     strict=False):
        ax.axvline(value, color="black", linestyle=style, label=label)
    ax.set_xlabel("Tokens/sec, batch size 1 (higher is better)")
    ax.legend(fontsize=8, loc="lower right")
    if batches:
        ax = axes.pop(0)
        ax.bar([str(b["batch_size"]) for b in batches],
               [b["aggregate_tokens_per_sec"] for b in batches],
               color="tab:orange")
        ax.set_xlabel("Batch size (fast path, compiled)")
        ax.set_ylabel("Tokens/sec, all rows together")
    if per_token:
        ax = axes.pop(0)
        ax.plot(range(1, len(per_token) + 1), per_token, linewidth=0.8)
        ax.set_ylim(0, max(per_token[1:]) * 1.3)
        ax.set_xlabel("Generated token")
        ax.set_ylabel("Milliseconds (fast path, compiled)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.markdown is not None:
        print(markdown(args.markdown))
        return 0
    cfg, device, n = args.cfg, args.device, args.new_tokens
    model = seeded_model(cfg, seed=123).to(device).eval()
    n_bytes = bytes_per_token(model)
    args.threads = torch.get_num_threads()
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{device.type} ({cpu_name()}: {cpu_kind()}), "
                f"{args.threads} threads")
    print(f"{'tiny model' if args.tiny else 'Qwen3 0.6B architecture'}, "
          "random weights, "
          f"{str(cfg['dtype']).removeprefix('torch.')}, {hardware}, "
          f"torch {torch.__version__}")
    print(f"Prompt {args.prompt_tokens} tokens, {n} new tokens, batch 1, "
          f"median of {args.repeats} alternating runs")
    print(f"Weights read per token: {n_bytes / 1e9:.3f} GB", flush=True)

    peer = None
    if "llama.cpp" in args.peers:
        print(f"llama.cpp on the same weights, {args.threads} threads, "
              "timed after each round of ours:", flush=True)
        from llama_cpp_peer import LlamaCppPeer, PeerError  # this folder

        try:
            peer = LlamaCppPeer(model, args)
        except PeerError as exc:
            print(f"  llama.cpp left out: {exc}", flush=True)
    fns, fast_bytes = build_modes(model, args, args.prompt_tokens + n)
    mode_bytes = {key: fast_bytes.get(key, n_bytes) for key in fns}
    prompt = random_prompt(args, 1)
    warm = {}
    for key, fn in fns.items():
        start = time.perf_counter()
        timed(fn, prompt, n)
        warm[key] = time.perf_counter() - start
        print(f"  warmed up {MODES[key]} in {warm[key]:.0f} s", flush=True)
    seconds = {key: [] for key in fns}
    memory = {key: None for key in fns}
    # The machine's speed drifts within minutes: each timed run is held
    # to the better of the reads just before and just after it
    reads = [read_bandwidth(device)]
    limits = {key: [] for key in [*fns, "llama.cpp"]}

    def read_beside(key):
        reads.append(read_bandwidth(device))
        limits[key].append(max(reads[-2:]))

    for _ in range(args.repeats):
        for key, fn in fns.items():
            took, peak = timed(fn, prompt, n)
            seconds[key].append(took)
            memory[key] = peak
            read_beside(key)
        if peer is not None:
            peer.decode_round()
            read_beside("llama.cpp")
    bandwidth = statistics.median(reads)
    print(f"Read bandwidth {bandwidth / 1e9:.1f} GB/s, the median of "
          f"{len(reads)} reads, before and after each timed run (from "
          f"{min(reads) / 1e9:.1f} to {max(reads) / 1e9:.1f}): a limit of "
          f"{bandwidth / n_bytes:.1f} tokens/sec.\nA run's share is of the "
          "better of the reads beside it.")

    best_book = max(
        (n / statistics.median(seconds[key]) for key in fns
         if key in ("book-cache", "book-cache-compiled")), default=None)
    results = []
    print(f"\n{'mode':<38}{'tokens/sec':>11}{'% of limit':>12}"
          f"{'vs book':>9}{'peak memory':>13}{'warm-up':>9}")
    for key in fns:
        speed = n / statistics.median(seconds[key])
        share = share_of_limit([n / s for s in seconds[key]],
                               mode_bytes[key], limits[key])
        ratio = speed / best_book if best_book else None
        peak = memory[key]
        results.append({
            "mode": MODES[key], "tokens_per_sec": round(speed, 2),
            "runs_tokens_per_sec": [round(n / s, 2) for s in seconds[key]],
            "bytes_per_token": mode_bytes[key], "percent_of_limit": share,
            "vs_best_book_cache_mode": round(ratio, 2) if ratio else None,
            "peak_memory_gb": round(peak, 2) if peak else None,
            "warm_up_seconds": round(warm[key], 1),
        })
        print(f"{MODES[key]:<38}{speed:>11.1f}"
              f"{f'{share:.0f}%' if share is not None else 'above!':>12}"
              f"{f'{ratio:.2f}x' if ratio else '-':>9}"
              f"{f'{peak:.2f} GB' if peak else '-':>13}"
              f"{warm[key]:>8.0f}s")
    if any(r["percent_of_limit"] is None for r in results):
        print("(above!: faster than the read limit allows, so the "
              "measured limit is wrong here, not a result)")
    del fns
    gc.collect()
    # Once per call, before the first token: has the model changed?
    check = FastGenerator(model, 2, compile=False).check
    check_us = median_seconds(lambda: check(1, 1, 1), device, 21) * 1e6
    print(f"FastGenerator's weight check: {check_us:.0f} us per call")

    peers = []
    if peer is not None:
        print(f"\nllama.cpp (llama-bench: decoding, the median of the "
              f"rounds; the prompt, the mean of {args.repeats} runs; the "
              "time to the first token is the prompt's):", flush=True)
        peers = peer.rows()
        for row in peers:
            row["bytes_per_token"] = peer_bytes(n_bytes, cfg["dtype"],
                                                row["gguf_type"])
            row["percent_of_limit"] = share_of_limit(
                row["runs_tokens_per_sec"], row["bytes_per_token"],
                limits["llama.cpp"])
            share = row["percent_of_limit"]
            print(f"{row['mode']:<38}{row['tokens_per_sec']:>11.1f}"
                  f"{f'{share:.0f}%' if share is not None else 'above!':>12}"
                  + (f"   pp{args.pp}: {row['prompt_tokens_per_sec']:.1f} "
                     f"tokens/sec, time to first token "
                     f"{row['time_to_first_token_s']:.2f} s"
                     if row["prompt_tokens_per_sec"] else ""), flush=True)

    profile = profile_step(model, args, peers) if args.profile else None
    batches, per_token, kv_bytes, reading = [], [], None, []
    if args.pp:
        print(f"\nReading a {args.pp}-token prompt (batch 1):")
        reading = prompt_reading(model, args)
    side_by_side(results, reading, peers, dtype_name(cfg["dtype"]))
    accuracy = None
    if "fast-compiled-int8" in args.modes:
        accuracy = int8_accuracy(model, args)
    if args.batch_sizes:
        print("\nFast path (compiled), larger batches:")
        batches = batch_throughput(model, args)
    if args.long_steps:
        per_token, kv_bytes = per_token_times(model, args)
        # Medians of 50-token windows: single tokens spike on a busy
        # machine (by 30% and more), a window's median does not
        start = min(10, len(per_token) // 2)
        window = max(1, min(50, (len(per_token) - start) // 2))
        early = statistics.median(per_token[start:start + window])
        late = statistics.median(per_token[-window:])
        print(f"\nFast path (compiled), {args.long_steps} tokens in one "
              f"run (KV cache {kv_bytes / 2**20:.0f} MiB): "
              f"{early:.1f} ms/token at steps {start}-{start + window}, "
              f"{late:.1f} at the last {window} "
              f"({100 * (late / early - 1):+.1f}%)")

    if args.json is not None:
        args.json.write_text(json.dumps({
            "hardware": hardware, **run_record(device),
            "dtype": dtype_name(cfg["dtype"]),
            "new_tokens": n, "prompt_tokens": args.prompt_tokens,
            "bytes_per_token": n_bytes,
            "read_bandwidth_gb_s": round(bandwidth / 1e9, 2),
            "reads_gb_s": [round(r / 1e9, 2) for r in reads],
            "profile_ms_per_token": profile,
            "modes": results, "prompt_reading": reading, "peers": peers,
            "int8_accuracy": accuracy,
            "batches": batches,
            "per_token_ms": [round(t, 2) for t in per_token],
            "long_run_kv_cache_bytes": kv_bytes,
            "weight_check_us": round(check_us, 1),
        }, indent=2) + "\n")
        print(f"Saved {args.json}")
    if args.plot is not None:
        lines = {f"read limit at {b / 1e9:.2f} GB/token": bandwidth / b
                 for b in sorted(set(mode_bytes.values()))}
        plot(args.plot, results + peers, lines, batches, per_token,
             f"{hardware}, {dtype_name(cfg['dtype'])}")
        print(f"Saved {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
