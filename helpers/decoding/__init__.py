"""One decoding loop for both backends (bonus notebook
``ch02/02_decoding-strategies``, ``ch02-generate``, ``FastGenerator``).

- ``config.py``: ``GenerationConfig``, every option checked once;
- ``logits_process.py``: the processors built from it, and
  ``sampling.py``: the same filters as public functions;
- ``stopping.py``: the stopping criteria (EOS ids, stop sequences, stop
  strings);
- ``loop.py``: ``generate`` and ``generate_stream``, the one loop;
- ``beam_search.py``: ``beam_search``;
- ``book_backend.py``: the book's model as a backend (``FastGenerator``
  is the other);
- ``padding.py``: left-padded batches; ``validation.py``: the checks
  that depend on the model.
"""

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
    "GenerateOutput",
    "GenerationConfig",
    "apply_repetition_penalty",
    "apply_temperature",
    "beam_search",
    "collect_stream",
    "generate",
    "generate_stream",
    "left_pad",
    "min_p_filter",
    "sample_next_token",
    "top_k_filter",
    "top_p_filter",
]
