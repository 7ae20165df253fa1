"""Does ``torch.compile`` work on this machine? (section 2.9)

Compiling needs a C++ compiler on the CPU (and Triton on GPUs). Where it is
missing, for example on Windows without the Visual Studio Build Tools, the
error only appears on the model's first call. A tiny probe finds out first,
so the notebooks can fall back to the regular model with a clear message.
"""

import torch


def torch_compile_works(device="cpu"):
    """Compile and run a tiny function on ``device``; True if that works."""
    try:
        probe = torch.compile(lambda x: torch.sin(x) * 2 + 1)
        probe(torch.ones(8, device=device))
    except Exception as exc:  # any compiler failure means "no"
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        print(
            f"torch.compile does not work here ({type(exc).__name__}: "
            f"{first_line}).\nUsing the regular model instead; see "
            "'Troubleshooting' in the README to set up a C++ compiler."
        )
        return False
    return True
