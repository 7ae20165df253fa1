"""Compiling the book's model (section 2.9): does it work here, and
compiling it block by block.

Compiling needs a C++ compiler on the CPU (Triton on GPUs); where it is
missing, the error comes only at the model's first call, so a tiny probe
asks first. The 28 transformer blocks run the same code on weights of
the same shapes: compiled one by one they share one small graph
("regional compilation"), ready sooner than the whole model's.
"""

import copy

import torch
from torch import nn

from .errors import one_line


def torch_compile_works(device="cpu"):
    """Compile and run a tiny function on ``device``; True if that works.

    On a CPU the probe first skips inductor's check of each vector
    instruction set (``cpp.vec_isa_ok``: a test program loaded in a new
    Python process each, slow on few cores); it compiles vector code
    itself, so if that fails it tries again with every check.
    """
    device = torch.device(device)
    from torch._inductor import config as inductor_config
    from torch._inductor import cpu_vec_isa

    quick = (device.type == "cpu"
             and inductor_config.cpp.vec_isa_ok is None)  # not chosen
    if quick:
        inductor_config.cpp.vec_isa_ok = True
    for attempt in range(1 + quick):
        if attempt:  # the compiler may lack an instruction set: check each
            inductor_config.cpp.vec_isa_ok = None
            cpu_vec_isa.valid_vec_isa_list.cache_clear()
        try:
            _probe(device)
            return True
        except Exception as exc:  # any compiler failure means "no"
            error = exc
    print(
        f"torch.compile does not work here ({one_line(error, named=True)})."
        "\nUsing the regular model instead; docs/troubleshooting.md says "
        "how to set up a C++ compiler."
    )
    return False


def _probe(device):
    probe = torch.compile(lambda x: torch.sin(x) * 2 + 1)
    probe(torch.ones(64, device=device))  # long enough for vector code


def compile_blocks(model):
    """A model object that shares every weight with ``model`` and runs
    each transformer block through ``torch.compile``; ``model`` stays
    uncompiled. It keeps its own KV-cache position (``current_pos``)."""
    if not isinstance(getattr(model, "trf_blocks", None), nn.ModuleList):
        raise TypeError(
            "compile_blocks needs the book's Qwen3Model (a model with a "
            f"trf_blocks list), got {type(model).__name__}; for other "
            "models use torch.compile(model)")
    compiled = copy.copy(model)  # shares parameters and buffers
    compiled._modules = dict(model._modules)  # but not the list of blocks
    compiled.trf_blocks = nn.ModuleList(
        torch.compile(block) for block in model.trf_blocks
    )
    return compiled
