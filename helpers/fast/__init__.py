"""The fast generation path: ``FastDecoder``, the model rewritten for a
static KV cache, and ``FastGenerator``, which compiles and runs it."""

from .decoder import FastDecoder
from .generator import FastGenerator, prompt_dtype

__all__ = ["FastDecoder", "FastGenerator", "prompt_dtype"]
