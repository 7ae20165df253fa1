"""Run every notebook under ch02/ with nbval, in random-weights mode.

Each notebook runs on a copy in a temporary folder, so the model files it
writes never land in the checkout. Cells marked `# NBVAL_CHECK_OUTPUT` must
reproduce their committed output; all other cells must run without error.
"""

import os
import shutil
import subprocess
import sys

import pytest

from notebooks import ROOT, all_notebooks

pytestmark = pytest.mark.slow  # each notebook runs the full-size model

NOTEBOOKS = all_notebooks()


@pytest.mark.parametrize(
    "notebook", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS]
)
def test_notebook_runs(notebook, tmp_path):
    work = tmp_path / notebook.parent.name
    shutil.copytree(
        notebook.parent, work,
        ignore=shutil.ignore_patterns("qwen3", "*.pth",
                                      ".ipynb_checkpoints"),
    )
    env = {
        **os.environ,
        "QWEN3_RANDOM_WEIGHTS": "1",  # full-size model, random weights
        "HF_HUB_OFFLINE": "1",  # never reach the network
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows plots
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval-lax",
             "--nbval-current-env", "--nbval-cell-timeout=1200",
             "-p", "no:cacheprovider", "-q", str(work / notebook.name)],
            cwd=work, env=env, capture_output=True, text=True, timeout=2400,
        )
    finally:
        # The copy holds a 1.5 GB checkpoint: free the disk at once
        shutil.rmtree(work, ignore_errors=True)
    assert result.returncode == 0, (
        result.stdout[-8000:] + "\n" + result.stderr[-2000:]
    )
    leaked = [p for p in (ROOT / "ch02").rglob("*.pth")]
    assert not leaked, f"model files in the checkout: {leaked}"
