"""Is a file a Qwen3 0.6B checkpoint? (section 2.5, downloads)

A download that completed can still be the wrong file: an error page, a
truncated upload, another model. ``check_checkpoint`` loads the file the
safe way (``weights_only=True``, memory-mapped, so nothing is read twice)
and compares it with the model the book builds: the same ``state_dict``
keys and shapes, floating-point tensors, and, when asked, only finite
numbers.
"""

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B, Qwen3Model

# The model a downloaded checkpoint must fit (the tests use a tiny one)
EXPECTED_CONFIG = QWEN_CONFIG_06_B


class CheckpointError(ValueError):
    """The file is not a checkpoint of the expected model."""


def expected_shapes(cfg):
    """``state_dict`` key -> shape of ``Qwen3Model(cfg)``, computed on the
    meta device (no memory for the weights)."""
    with torch.device("meta"):
        model = Qwen3Model(cfg)
    return {key: tuple(t.shape) for key, t in model.state_dict().items()}


def check_checkpoint(path, read_values=True, cfg=None):
    """Raise ``CheckpointError`` unless ``path`` fits ``Qwen3Model(cfg)``.

    With ``read_values``, every tensor is also read once to check that it
    holds only finite numbers (about a second for 1.5 GB).
    """
    cfg = EXPECTED_CONFIG if cfg is None else cfg
    try:
        state = torch.load(path, map_location="cpu", mmap=True,
                           weights_only=True)
    except Exception as exc:  # pickle, zip and format errors alike
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(
            f"PyTorch cannot load it ({type(exc).__name__}: {first})"
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
