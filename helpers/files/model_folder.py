"""The one model folder all the chapter's notebooks share, so the
weights are on disk once."""

from pathlib import Path

MAIN_CHAPTER_FOLDER = "01_main-chapter-code"


def shared_model_dir():
    """``../01_main-chapter-code/qwen3`` when run from a bonus folder of
    this repository, else ``qwen3`` (for example on Colab)."""
    chapter = Path("..") / MAIN_CHAPTER_FOLDER
    if chapter.is_dir():
        return chapter / "qwen3"
    return Path("qwen3")
