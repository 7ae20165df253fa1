"""Helpers for Chapter 2: the single source of truth for its listings.

The book's listings are in ``ch02.py``, as the book prints them; the
notebooks define the same listings, and a test keeps the two identical.
Beyond the book: the decoding loop and its options (``decoding/``), the
fast backend (``fast/``), the model's files (``files/``) and
the command-line generator (``cli/``); ``README.md`` here maps them.
"""

from .ch02 import (
    generate_stats,
    generate_text_basic,
    generate_text_basic_cache,
    generate_text_basic_stream,
    generate_text_basic_stream_cache,
    get_device,
)
from .decoding import (
    GenerationConfig,
    apply_repetition_penalty,
    apply_temperature,
    beam_search,
    generate,
    generate_stream,
    left_pad,
    min_p_filter,
    sample_next_token,
    top_k_filter,
    top_p_filter,
)
from .fast import FastGenerator
from .files import download_qwen3_small
from .text_stream import stream_text

__all__ = [
    "FastGenerator", "GenerationConfig", "apply_repetition_penalty",
    "apply_temperature", "beam_search", "download_qwen3_small", "generate",
    "generate_stream", "generate_stats", "generate_text_basic",
    "generate_text_basic_cache", "generate_text_basic_stream",
    "generate_text_basic_stream_cache", "get_device", "left_pad",
    "min_p_filter", "sample_next_token", "stream_text", "top_k_filter",
    "top_p_filter",
]
