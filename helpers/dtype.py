"""Beyond the book: the dtype that runs fastest on a device (section 2.5).

The book runs Qwen3 0.6B in bfloat16: half the memory of float32 and, on
GPUs and on CPUs with bfloat16 instructions (AVX-512 BF16, AMX, ARM's
bf16), faster too. Most x86 laptop CPUs have no such instructions (AVX2
only): PyTorch converts every bfloat16 number to float32 and back, and a
matrix product over a prompt runs several times slower than in float32.

``choose_dtype`` decides by measuring rather than by a table of CPU flags
that goes stale: on a CPU it times one of the model's own matrix
products (64 prompt rows through a 1024 x 3072 layer) in both dtypes and
keeps bfloat16 unless float32 is faster. On GPUs it asks the device
whether it computes bfloat16 natively. Either way it says in one line
what it chose and why, and keeps bfloat16 where float32 would not fit in
memory.
"""

import functools
import time

import torch

# The dtypes ``--dtype`` and ``choose_dtype`` know, by name
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}

# The matrix product that is timed on a CPU: a prompt's worth of rows
# through the feed-forward layer's shape in Qwen3 0.6B
_ROWS, _IN, _OUT = 64, 1024, 3072

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
    """Bytes the weights of ``Qwen3Model(cfg)`` take in ``dtype``
    (counted on the meta device, so nothing is allocated)."""
    from .checkpoint import expected_shapes

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


def _seconds(dtype, repeats=5):
    """Best time of one (64 x 1024) @ (1024 x 3072) product on the CPU."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(_ROWS, _IN, generator=generator).to(dtype)
    w = torch.randn(_OUT, _IN, generator=generator).to(dtype)
    torch.nn.functional.linear(x, w)  # warm-up: kernels, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.nn.functional.linear(x, w)
        best = min(best, time.perf_counter() - start)
    return best


@functools.cache
def _fastest(device_type):
    """(dtype, why) for a device type, measured once per process."""
    if device_type == "cpu":
        ratio = _seconds(torch.bfloat16) / _seconds(torch.float32)
        if ratio > 1:
            return torch.float32, (
                f"this CPU has no fast bfloat16 (its matrix products run "
                f"{ratio:.1f}x slower than in float32 here)"
            )
        return torch.bfloat16, (
            f"this CPU computes bfloat16 natively ({1 / ratio:.1f}x the "
            "speed of float32 here)"
        )
    if device_type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return torch.bfloat16, "this GPU computes bfloat16 natively"
        return torch.float32, "this GPU has no native bfloat16"
    return torch.bfloat16, f"{device_type.upper()} computes bfloat16"


def choose_dtype(device, cfg=None, verbose=True):
    """The dtype the model runs fastest in on ``device``: bfloat16 (the
    book's) or float32. Prints one line that says which and why, unless
    ``verbose=False``. ``cfg`` (default Qwen3 0.6B) sizes the memory
    check: float32 is only chosen if its weights fit."""
    from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

    cfg = QWEN_CONFIG_06_B if cfg is None else cfg
    device = torch.device(device)
    dtype, why = _fastest(device.type)
    if dtype == torch.float32:
        try:
            check_fits(cfg, dtype, device)
        except MemoryError as exc:
            dtype = torch.bfloat16
            why = f"float32 would be faster, but {exc}".rstrip(".")
    size = model_bytes(cfg, dtype)
    if dtype == torch.float32:
        message = (f"The model runs in float32, {size_text(size)} instead "
                   f"of {size_text(size / 2)} in bfloat16: {why}.")
    else:
        message = f"The model runs in bfloat16 ({size_text(size)}): {why}."
    if verbose:
        print(message)
    return dtype


def to_dtype(model, dtype):
    """Convert the book's ``Qwen3Model`` to ``dtype``, in place, and
    return it. Its forward pass casts to ``model.cfg["dtype"]`` before the
    output layer, so the configuration changes too (a copy: the book's
    ``QWEN_CONFIG_06_B`` stays as it is)."""
    model.cfg = {**model.cfg, "dtype": dtype}
    return model.to(dtype)
