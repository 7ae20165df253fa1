"""The one model folder that all of the chapter's notebooks share.

The main chapter's notebooks download into ``qwen3/`` next to them, as
the book does. The bonus notebooks live in sibling folders
(``ch02/02_...``, ``ch02/03_...``); they use the same folder, so the
1.5 GB of weights are on disk once.
"""

from pathlib import Path

MAIN_CHAPTER_FOLDER = "01_main-chapter-code"


def shared_model_dir():
    """``../01_main-chapter-code/qwen3`` when run from a bonus folder of
    this repository, else ``qwen3`` (for example on Colab)."""
    chapter = Path("..") / MAIN_CHAPTER_FOLDER
    if chapter.is_dir():
        return chapter / "qwen3"
    return Path("qwen3")
