"""The model's files: download, check and load them, the tokenizer
rebuilt offline, and random weights for offline runs."""

from .checkpoint import load_model
from .download import download_qwen3_small, qwen3_files
from .model_folder import shared_model_dir

__all__ = ["download_qwen3_small", "load_model", "qwen3_files",
           "shared_model_dir"]
