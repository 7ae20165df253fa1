"""Helpers for Chapter 2: the single source of truth for its listings.

Each function's docstring (or its module's) names the notebook section that
introduces it; the notebooks define the same listings, and a test keeps the
two identical.
"""

from .decoding import beam_search, generate, generate_stream
from .device import get_device
from .download import download_qwen3_small
from .fast_generation import FastGenerator
from .generation import (
    generate_text_basic,
    generate_text_basic_cache,
    generate_text_basic_stream,
    generate_text_basic_stream_cache,
)
from .padding import left_pad
from .sampling import (
    apply_repetition_penalty,
    apply_temperature,
    min_p_filter,
    sample_next_token,
    top_k_filter,
    top_p_filter,
)
from .stats import generate_stats
from .text_stream import stream_text

__all__ = [
    "FastGenerator",
    "apply_repetition_penalty",
    "apply_temperature",
    "beam_search",
    "download_qwen3_small",
    "generate",
    "generate_stream",
    "generate_stats",
    "generate_text_basic",
    "generate_text_basic_cache",
    "generate_text_basic_stream",
    "generate_text_basic_stream_cache",
    "get_device",
    "left_pad",
    "min_p_filter",
    "sample_next_token",
    "stream_text",
    "top_k_filter",
    "top_p_filter",
]
