"""Compiling the book's model (section 2.9): does it work, and how to make
it quick on a CPU.

Compiling needs a C++ compiler on the CPU (and Triton on GPUs). Where it is
missing, for example on Windows without the Visual Studio Build Tools, the
error only appears on the model's first call. A tiny probe finds out first,
so the notebooks can fall back to the regular model with a clear message.

``torch.compile(model)`` traces all 28 transformer blocks into one graph,
and on a CPU turning that graph into C++ takes minutes, once per input
shape it specializes on (the book's two loops need five such graphs).
The 28 blocks run the same code on weights of the same shapes, so
compiling each block separately makes one small graph that all of them
share ("regional compilation" in PyTorch's tutorials): ready several
times sooner, and as fast afterwards.
"""

import copy

import torch
from torch import nn

from .errors import one_line


def torch_compile_works(device="cpu"):
    """Compile and run a tiny function on ``device``; True if that works.

    On a CPU, inductor normally checks once per process which vector
    instruction sets the C++ compiler can build, by compiling a test
    program for each and loading it in a new Python process that imports
    torch: on a CPU with few cores, a large part of every notebook's
    first compilation. The probe compiles vector code for the CPU's best
    instruction set itself, so it first runs without the basic checks
    (inductor's ``cpp.vec_isa_ok`` switch; the CPU's own flags still
    decide, and inductor still checks the newest extensions, such as
    AVX-512 BF16); only if that fails does it try again with every check,
    as inductor would, before giving up.
    """
    device = torch.device(device)
    from torch._inductor import config as inductor_config
    from torch._inductor import cpu_vec_isa

    quick = (device.type == "cpu"
             and inductor_config.cpp.vec_isa_ok is None)  # not chosen
    if quick:
        inductor_config.cpp.vec_isa_ok = True
    try:
        _probe(device)
        return True
    except Exception as exc:  # any compiler failure means "no"
        error = exc
    if quick:  # the compiler may lack an instruction set: check each
        inductor_config.cpp.vec_isa_ok = None
        cpu_vec_isa.valid_vec_isa_list.cache_clear()
        try:
            _probe(device)
            return True
        except Exception as exc:
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
    """The book's model with each transformer block compiled.

    Returns a new model object that shares every weight with ``model``
    (nothing is copied) and whose blocks run through ``torch.compile``;
    ``model`` itself stays uncompiled, so the notebooks can still time both.
    The view keeps its own KV-cache position (``current_pos``), as a
    separately compiled model would.
    """
    if not isinstance(getattr(model, "trf_blocks", None), nn.ModuleList):
        raise TypeError(
            "compile_blocks needs the book's Qwen3Model (a model with a "
            f"trf_blocks list), got {type(model).__name__}; for other "
            "models use torch.compile(model)"
        )
    compiled = copy.copy(model)  # shares parameters and buffers
    compiled._modules = dict(model._modules)  # but not the list of blocks
    compiled.trf_blocks = nn.ModuleList(
        torch.compile(block) for block in model.trf_blocks
    )
    return compiled
