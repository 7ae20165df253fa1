"""Is a file a Qwen3 checkpoint (a finished download can be an error
page or a truncated file), and loading one without the book's wait
(section 2.5: the chapter keeps the book's two lines)."""

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
    """Raise ``CheckpointError`` unless ``path`` holds the keys, shapes
    and floating-point tensors of ``Qwen3Model(cfg)`` (loaded safely,
    memory-mapped) and, with ``read_values``, only finite numbers."""
    try:
        state = torch.load(path, map_location="cpu", mmap=True,
                           weights_only=True)
    except Exception as exc:  # pickle, zip and format errors alike
        raise CheckpointError(
            f"PyTorch cannot load it ({one_line(exc, named=True)})"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(
            f"it holds a {type(state).__name__}, not a state_dict")
    expected = expected_shapes(cfg)
    missing = sorted(expected.keys() - state.keys())
    extra = sorted(state.keys() - expected.keys())
    if missing or extra:
        raise CheckpointError(
            f"{len(missing)} keys missing (e.g. {missing[:2]}), "
            f"{len(extra)} unexpected (e.g. {extra[:2]})")
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
    """``Qwen3Model(cfg)`` on the CPU with the weights in ``path``, as
    ``model.load_state_dict(torch.load(path))`` gives it, but built on
    the meta device and given the file's memory-mapped tensors: no
    random initialization and no copy."""
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
