"""Find the command-line tools installed next to this Python."""

import shutil
import sys
from pathlib import Path


def tool(name):
    """Path of ``name`` in this environment's bin/Scripts folder."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed in this environment; run uv sync"
    return found
