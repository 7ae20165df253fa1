"""Helpers for Chapter 2: the single source of truth for its listings.

Each function's docstring (or its module's) names the notebook section that
introduces it; the notebooks define the same listings, and a test keeps the
two identical.
"""

from .device import get_device
from .download import download_qwen3_small
from .generation import (
    generate_text_basic,
    generate_text_basic_cache,
    generate_text_basic_stream,
    generate_text_basic_stream_cache,
)
from .stats import generate_stats

__all__ = [
    "download_qwen3_small",
    "generate_stats",
    "generate_text_basic",
    "generate_text_basic_cache",
    "generate_text_basic_stream",
    "generate_text_basic_stream_cache",
    "get_device",
]
