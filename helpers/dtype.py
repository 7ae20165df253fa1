"""The dtype that runs fastest on a device (section 2.5).

The book runs Qwen3 0.6B in bfloat16. CPUs without bfloat16 instructions
(most x86 laptops: AVX2 only) convert every bfloat16 number to float32
and back, so a prompt's matrix products run several times slower than
in float32; a decoding step only reads the weights, and bfloat16 weights
are half the bytes. ``choose_dtype`` times the matrix product the work
needs in both dtypes (a table of CPU flags would go stale), asks a GPU
whether it computes bfloat16 natively, and says what it chose and why.
"""

import functools
import time

import torch

from .cpu_kind import last_level_cache_bytes

# The dtypes ``--dtype`` and ``choose_dtype`` know, by name
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}

# The matrix product timed on a CPU, (rows, in, out): a prompt through
# Qwen3 0.6B's feed-forward shape; one row through weights that a CPU's
# caches cannot hold (see ``_seconds``), as a decoding step reads them
WORK = {"prompts": (64, 1024, 3072), "decoding": (1, 4096, 8192)}

GB = 1e9


def size_text(n_bytes):
    """``3e9`` -> ``"3.0 GB"``; small models in MB."""
    if n_bytes >= 0.1 * GB:
        return f"{n_bytes / GB:.1f} GB"
    return f"{n_bytes / 1e6:.1f} MB"


def dtype_name(dtype):
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


def model_bytes(cfg, dtype):
    """Bytes the weights of ``Qwen3Model(cfg)`` take in ``dtype``."""
    from .files.checkpoint import expected_shapes

    n_params = sum(torch.Size(shape).numel()
                   for shape in expected_shapes(cfg).values())
    return n_params * torch.empty((), dtype=dtype).element_size()


def free_memory_bytes(device):
    """Memory free for a new model on ``device``, or None if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            import psutil
        except ImportError:
            return None
        return psutil.virtual_memory().available
    return None  # MPS and XPU share memory in ways torch does not report


def check_dtype(device, dtype):
    """Raise ``ValueError`` if ``device`` cannot compute in ``dtype``."""
    device = torch.device(device)
    if dtype not in DTYPES.values():
        raise ValueError(
            f"dtype {dtype} is not supported here; use one of "
            f"{', '.join(DTYPES)}."
        )
    if (dtype == torch.bfloat16 and device.type == "cuda"
            and not torch.cuda.is_bf16_supported(including_emulation=True)):
        raise ValueError(
            f"this GPU ({torch.cuda.get_device_name(device)}) cannot "
            "compute in bfloat16; use float32."
        )


def check_fits(cfg, dtype, device):
    """Raise ``MemoryError`` if the weights in ``dtype`` do not fit in the
    free memory of ``device`` (where that is known)."""
    needed, free = model_bytes(cfg, dtype), free_memory_bytes(device)
    if free is not None and needed > free:
        hint = ("; use bfloat16, which needs half as much"
                if dtype == torch.float32 else "")
        raise MemoryError(
            f"the model needs {size_text(needed)} in {dtype_name(dtype)}, "
            f"but only {size_text(free)} is free on {device}{hint}."
        )


def _seconds(dtype, work, repeats=5):
    """Best time of ``work``'s matrix product on the CPU in ``dtype``;
    decoding's weights grow to twice the last-level cache in bfloat16
    (some server CPUs hold 300 MiB)."""
    rows, n_in, n_out = WORK[work]
    if work == "decoding":
        n_out = max(n_out, last_level_cache_bytes() // n_in)
    x = torch.full((rows, n_in), 0.5, dtype=dtype)
    w = torch.full((n_out, n_in), 0.01, dtype=dtype)
    torch.nn.functional.linear(x, w)  # warm-up: kernels, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.nn.functional.linear(x, w)
        best = min(best, time.perf_counter() - start)
    return best


_WHAT = {"prompts": "reading prompts (and the loop without a KV cache)",
         "decoding": "decoding with a KV cache (one row per step)"}


@functools.cache
def fastest_dtype(device_type, work):
    """(dtype, why): the faster dtype for ``work`` on a device type,
    measured once per process (see ``choose_dtype``)."""
    if device_type == "cpu":
        ratio = _seconds(torch.bfloat16, work) / _seconds(torch.float32,
                                                          work)
        if ratio > 1:
            return torch.float32, (
                f"on this CPU, {_WHAT[work]} runs {ratio:.1f}x faster in "
                "float32 than in bfloat16"
            )
        return torch.bfloat16, (
            f"on this CPU, {_WHAT[work]} runs {1 / ratio:.1f}x faster in "
            "bfloat16"
        )
    if device_type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return torch.bfloat16, "this GPU computes bfloat16 natively"
        return torch.float32, "this GPU has no native bfloat16"
    return torch.bfloat16, f"{device_type.upper()} computes bfloat16"


def choose_dtype(device, cfg=None, work="prompts", verbose=True):
    """bfloat16 (the book's) or float32, whichever runs ``work`` faster
    on ``device``: "prompts" (many tokens per matrix product, as the
    book's loop without a KV cache) or "decoding" (one token per step).
    Prints which and why unless ``verbose=False``; float32 only if the
    weights of ``Qwen3Model(cfg)`` (default 0.6B) fit in memory."""
    from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

    if work not in WORK:
        raise ValueError(f"work must be one of {', '.join(WORK)}, got "
                         f"{work!r}.")
    cfg = QWEN_CONFIG_06_B if cfg is None else cfg
    device = torch.device(device)
    dtype, why = fastest_dtype(device.type, work)
    if dtype == torch.float32:
        try:
            check_fits(cfg, dtype, device)
        except MemoryError as exc:
            dtype = torch.bfloat16
            why = f"float32 would be faster, but {exc}".rstrip(".")
    size = model_bytes(cfg, dtype)
    if dtype == torch.float32:
        message = (f"The model runs in float32 instead of the book's "
                   f"bfloat16 ({size_text(size)} instead of "
                   f"{size_text(size / 2)}): {why}.")
    else:
        message = f"The model runs in bfloat16 ({size_text(size)}): {why}."
    if verbose:
        print(message)
    return dtype


def to_dtype(model, dtype):
    """The book's ``Qwen3Model`` converted to ``dtype`` in place, as if
    built with it: the embedding and the linear layers (RMSNorm scales
    and RoPE tables stay float32, as in the book), and a copy of
    ``model.cfg`` that says so (its forward pass casts to it)."""
    model.cfg = {**model.cfg, "dtype": dtype}
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.to(dtype)
    return model
