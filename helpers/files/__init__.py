"""The model's files: downloading the tokenizer and the weights
(``download.py``), checking and loading a checkpoint (``checkpoint.py``),
rebuilding the tokenizer offline (``offline_tokenizer.py``), random
weights for offline runs (``random_weights.py``), writing without leaving
half a file (``atomic.py``) and the one model folder the notebooks share
(``model_folder.py``).
"""

from .checkpoint import load_model
from .download import download_qwen3_small, qwen3_files
from .model_folder import shared_model_dir

__all__ = ["download_qwen3_small", "load_model", "qwen3_files",
           "shared_model_dir"]
