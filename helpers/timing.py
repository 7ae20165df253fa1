"""Timing and memory that are fair on every device (sections 2.7-2.9):
a GPU runs asynchronously, so the clock is read after ``synchronize``."""

import statistics
import time

import torch

from .decoding import collect_stream


def synchronize(device):
    """Wait until ``device`` has finished all queued work."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "xpu":
        torch.xpu.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(fn, device, repeats):
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, each
    timed from an idle device until the device has finished."""
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def reset_peak_memory(device):
    """Start a new peak-memory measurement (CUDA and XPU only)."""
    device = torch.device(device)
    if device.type in ("cuda", "xpu"):
        getattr(torch, device.type).reset_peak_memory_stats(device)


def peak_memory_gb(device):
    """Peak memory allocated since the last reset in GB; None on the CPU
    and MPS, where PyTorch keeps no peak counter."""
    device = torch.device(device)
    if device.type in ("cuda", "xpu"):
        backend = getattr(torch, device.type)
        return backend.max_memory_allocated(device) / 1024**3
    return None


def measure_generation(generate_fn, model, token_ids, max_new_tokens,
                       eos_token_id=None):
    """Time one generation (a loop's output, or a stream it consumes):
    a dict of ``output`` (batch, n_new), ``seconds``, ``tokens_per_sec``
    (new tokens only) and ``peak_memory_gb`` (or None)."""
    device = token_ids.device
    reset_peak_memory(device)
    synchronize(device)
    start = time.perf_counter()
    output = generate_fn(model, token_ids, max_new_tokens, eos_token_id)
    if not isinstance(output, torch.Tensor):  # a stream of (batch, 1)
        output = collect_stream(output, token_ids)
    synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "output": output,
        "seconds": seconds,
        "tokens_per_sec": output.numel() / seconds,
        "peak_memory_gb": peak_memory_gb(device),
    }
