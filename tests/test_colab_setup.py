"""The notebook's set-up cell on a Colab-like machine: pip only, no uv.

A fresh virtual environment gets what Colab already has, PyTorch (the
locked one, made visible read-only, because Colab ships it preinstalled),
and nothing else. The set-up cell then installs this repository with pip
from a copy, as a reader with an uploaded copy or a git URL would, and the
first sections of the main notebook run from a working directory outside
the repository, into which the session's random-weights checkpoint is
linked (writing one on a first run is the notebook test's part).
"""

import importlib.metadata
import os
import shutil
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from notebooks import ROOT

pytestmark = pytest.mark.slow  # a fresh virtual environment, pip installs

MAIN = ROOT / "ch02" / "01_main-chapter-code" / "ch02_main.ipynb"
# Run the notebook up to and including the first forward pass (2.6)
LAST_CELL = "Formatted Output tensor shape"


def requirement_closure(name):
    """The installed distributions `name` needs, itself included."""
    seen, todo = {}, [name]
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower()
        if key in seen:
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen.values()


def preinstall_torch(folder):
    """Symlink torch and what it needs into ``folder``, as Colab ships
    it; a .pth file in the new venv puts the folder on its path."""
    folder.mkdir()
    for dist in requirement_closure("torch"):
        for entry in {Path(f).parts[0] for f in dist.files or []}:
            source = Path(dist.locate_file(entry))
            if (source.exists() and not (folder / entry).exists()
                    and entry != ".." and not entry.endswith(".pth")):
                (folder / entry).symlink_to(source)


def copy_of_repository(dest):
    """The files a reader would upload: tracked and untracked, not the
    ignored ones (.venv, downloads)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def first_sections(repo):
    """The main notebook's code cells up to the first forward pass, with
    REPO set the way the set-up cell asks for."""
    cells = [c.source for c in nbformat.read(MAIN, as_version=4).cells
             if c.cell_type == "code"]
    end = next(i for i, c in enumerate(cells) if LAST_CELL in c)
    setup = cells[0]
    assert 'REPO = ""' in setup
    cells[0] = setup.replace('REPO = ""', f"REPO = {str(repo)!r}")
    return "\n\n".join(cells[: end + 1])


@pytest.fixture(scope="module")
def colab(tmp_path_factory, full_size_dir):
    base = tmp_path_factory.mktemp("colab")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()"
         "['purelib'])"], capture_output=True, text=True, check=True,
    ).stdout.strip())
    preinstall_torch(base / "preinstalled")
    (site / "colab_preinstalled.pth").write_text(
        str(base / "preinstalled") + "\n"
    )
    repo = base / "uploaded-repository"
    copy_of_repository(repo)
    content = base / "content"  # Colab's working directory
    # The session's random-weights checkpoint (the chapter's notebook test
    # writes one on a first run into a new folder); the tokenizer is left
    # for the set-up cell to fetch
    (content / "qwen3").mkdir(parents=True)
    weights = "qwen3-0.6B-base.pth"
    os.link(full_size_dir / weights, content / "qwen3" / weights)
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT"}}
    env.update(QWEN3_RANDOM_WEIGHTS="1", HF_HUB_OFFLINE="1",
               MPLBACKEND="Agg")
    yield python, repo, content, env
    shutil.rmtree(base, ignore_errors=True)  # the venv, the copy, the link


def run(python, code, cwd, env, timeout=1200):
    return subprocess.run([python, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_setup_cell_says_what_to_do_without_a_repository(tmp_path):
    bare = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(bare)
    python = bare / ("Scripts" if os.name == "nt" else "bin") / "python"
    setup = nbformat.read(MAIN, as_version=4).cells
    setup = next(c.source for c in setup if c.cell_type == "code")
    result = run(python, setup, tmp_path, {"PATH": os.environ["PATH"]})
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "`helpers` is not installed. Set REPO" in message
    assert "GitHub URL" in message


def test_first_sections_run_after_a_pip_install(colab):
    python, repo, content, env = colab
    result = run(python, first_sections(repo), content, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -5000:]
    out = result.stdout
    assert "[840] --> Ex" in out
    assert "Number of input tokens: 6" in out
    assert "torch.Size([6, 151936])" in out
    assert "RANDOM WEIGHTS" in out  # random-weights mode, announced
    # Installed by the set-up cell, not found in the repository's .venv
    where = run(python, "import helpers, reasoning_from_scratch as r; "
                "print(helpers.__file__); print(r.__file__)", content, env)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert str(ROOT) not in line and str(repo) not in line, line
    assert (content / "qwen3" / "tokenizer-base.json").is_file()
