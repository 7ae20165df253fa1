"""Run every notebook under ch02/ with nbval, in random-weights mode.

The notebooks run in one copy of ch02/ in a temporary folder, in a reader's
order (the chapter, its exercises and solutions, then the bonus folders), so
the model files they write never land in the checkout. As on a reader's
machine, the chapter's first run writes ``01_main-chapter-code/qwen3/`` (a
folder that does not exist yet) and the later notebooks find it there. Cells
marked `# NBVAL_CHECK_OUTPUT` must reproduce their committed output; all
other cells must run without error.
"""

import os
import shutil
import subprocess
import sys

import pytest

from notebooks import ROOT, all_notebooks

pytestmark = pytest.mark.slow  # each notebook runs the full-size model

NOTEBOOKS = all_notebooks()


@pytest.fixture(scope="module")
def chapter_copy(tmp_path_factory):
    """A copy of ch02/ without model files, shared by the notebooks."""
    copy = tmp_path_factory.mktemp("notebooks") / "ch02"
    shutil.copytree(
        ROOT / "ch02", copy,
        ignore=shutil.ignore_patterns("qwen3", "*.pth",
                                      ".ipynb_checkpoints"),
    )
    yield copy
    # It holds a 1.5 GB checkpoint: free the disk
    shutil.rmtree(copy, ignore_errors=True)


@pytest.mark.parametrize(
    "notebook", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS]
)
def test_notebook_runs(notebook, chapter_copy):
    work = chapter_copy / notebook.parent.relative_to(ROOT / "ch02")
    env = {
        **os.environ,
        "QWEN3_RANDOM_WEIGHTS": "1",  # full-size model, random weights
        "HF_HUB_OFFLINE": "1",  # never reach the network
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows plots
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax",
         "--nbval-current-env", "--nbval-cell-timeout=1200",
         "-p", "no:cacheprovider", "-q", str(work / notebook.name)],
        cwd=work, env=env, capture_output=True, text=True, timeout=2400,
    )
    assert result.returncode == 0, (
        result.stdout[-8000:] + "\n" + result.stderr[-2000:]
    )
    leaked = [p for p in (ROOT / "ch02").rglob("*.pth")]
    assert not leaked, f"model files in the checkout: {leaked}"
