"""Is a file a Qwen3 0.6B checkpoint, and loading it (section 2.5).

A download that completed can still be the wrong file: an error page, a
truncated upload, another model. ``check_checkpoint`` loads the file the
safe way (``weights_only=True``, memory-mapped, so nothing is read twice)
and compares it with the model the book builds: the same ``state_dict``
keys and shapes, floating-point tensors, and, when asked, only finite
numbers. ``load_model`` gives the model that the book's two loading lines
give, without their wait (the command-line tool and the bonus notebooks
use it; the chapter keeps the book's lines).
"""

import os

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B, Qwen3Model

from ..errors import one_line


class CheckpointError(ValueError):
    """The file is not a checkpoint of the expected model."""


def expected_shapes(cfg):
    """``state_dict`` key -> shape of ``Qwen3Model(cfg)``, computed on the
    meta device (no memory for the weights)."""
    with torch.device("meta"):
        model = Qwen3Model(cfg)
    return {key: tuple(t.shape) for key, t in model.state_dict().items()}


def check_checkpoint(path, read_values=True, cfg=QWEN_CONFIG_06_B):
    """Raise ``CheckpointError`` unless ``path`` fits ``Qwen3Model(cfg)``.

    With ``read_values``, every tensor is also read once to check that it
    holds only finite numbers (about a second for 1.5 GB).
    """
    try:
        state = torch.load(path, map_location="cpu", mmap=True,
                           weights_only=True)
    except Exception as exc:  # pickle, zip and format errors alike
        raise CheckpointError(
            f"PyTorch cannot load it ({one_line(exc, named=True)})"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(
            f"it holds a {type(state).__name__}, not a state_dict"
        )
    expected = expected_shapes(cfg)
    missing = sorted(expected.keys() - state.keys())
    extra = sorted(state.keys() - expected.keys())
    if missing or extra:
        raise CheckpointError(
            f"{len(missing)} keys missing (e.g. {missing[:2]}), "
            f"{len(extra)} unexpected (e.g. {extra[:2]})"
        )
    for key, shape in expected.items():
        tensor = state[key]
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{key} is not a tensor")
        if tuple(tensor.shape) != shape:
            raise CheckpointError(
                f"{key} has shape {tuple(tensor.shape)}, expected {shape}"
            )
        if not tensor.is_floating_point():
            raise CheckpointError(f"{key} has dtype {tensor.dtype}")
        if read_values and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{key} holds NaN or infinite values")


def load_model(path, cfg=QWEN_CONFIG_06_B):
    """``Qwen3Model(cfg)`` on the CPU with the weights in ``path``: the
    model ``model.load_state_dict(torch.load(path))`` gives, without the
    book's wait for random numbers and a copy.

    The book's way first fills 0.6B parameters with random numbers, then
    reads the whole file and copies it over them. Here the model is built
    on the meta device (shapes, no memory) and takes the checkpoint's
    tensors themselves, memory-mapped: the operating system reads them
    when they are first used, and shares them with its file cache (on
    Windows they are read at once: still without the random numbers).
    """
    with torch.device("meta"):
        model = Qwen3Model(cfg)
    # Read into memory on Windows, where a mapped file cannot be replaced
    # (by a download of the real weights while this model is in use)
    state = torch.load(path, map_location="cpu", mmap=os.name != "nt",
                       weights_only=True)
    # The model's own dtypes, as the book's copy keeps them (no copy
    # where the file has them already: bfloat16 for Qwen3 0.6B)
    dtypes = {key: t.dtype for key, t in model.state_dict().items()}
    state = {key: t.to(dtypes.get(key, t.dtype)) for key, t in state.items()}
    model.load_state_dict(state, assign=True)
    # RoPE's cos and sin are not in a checkpoint (persistent=False): a
    # model without layers and with a one-token vocabulary computes them
    # as the book's does
    rope = Qwen3Model({**cfg, "n_layers": 0, "vocab_size": 1})
    model.cos, model.sin = rope.cos, rope.sin
    return model
