"""``ch02-generate``: the command (``command.py``: arguments, loading,
the engines, answering) and its conversations (``chat.py``)."""

from .command import main

__all__ = ["main"]
