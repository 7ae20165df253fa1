"""One decoding loop for both backends, the book's model and
``FastGenerator`` (bonus notebook 02, ``ch02-generate``); ``README.md``
in ``helpers/`` maps its files."""

from .beam_search import beam_search
from .config import GenerationConfig
from .logits_process import sample_next_token
from .loop import GenerateOutput, collect_stream, generate, generate_stream
from .padding import left_pad
from .sampling import (
    apply_repetition_penalty,
    apply_temperature,
    min_p_filter,
    top_k_filter,
    top_p_filter,
)

__all__ = [
    "GenerateOutput", "GenerationConfig", "apply_repetition_penalty",
    "apply_temperature", "beam_search", "collect_stream", "generate",
    "generate_stream", "left_pad", "min_p_filter", "sample_next_token",
    "top_k_filter", "top_p_filter",
]
