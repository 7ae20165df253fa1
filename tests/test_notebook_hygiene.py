"""What a reader sees: committed outputs, metadata, the set-up cell, the
book's figures and Table 2.1."""

import re

import nbformat
import pytest

from notebooks import ROOT, all_notebooks, code_cells

NOTEBOOKS = all_notebooks()
IDS = [p.name for p in NOTEBOOKS]
MAIN = ROOT / "ch02" / "01_main-chapter-code" / "ch02_main.ipynb"
CHECKED = "nbval-check-output"
# What JupyterLab writes into language_info, less the local Python version
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
FIGURE_URL = ("https://sebastianraschka.com/images/"
              "reasoning-from-scratch-images/ch02/CH02_F{:02d}_raschka.webp")


def read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_outputs_are_checked_and_clean(path):
    counts = []
    for cell in code_cells(path):
        tags = cell.metadata.get("tags", [])
        assert "NBVAL_CHECK_OUTPUT" not in cell.source, (
            f"{path.name}: use the cell tag {CHECKED!r}, not a comment"
        )
        if cell.outputs:
            assert CHECKED in tags, (
                f"{path.name}: only outputs that nbval verifies are "
                f"committed (tag {CHECKED!r}); cell:\n{cell.source}"
            )
        # nbval compares only cells that were run: those with outputs
        # carry execution counts 1, 2, 3, ... as after a clean run
        if cell.outputs:
            counts.append(cell.execution_count)
        else:
            assert cell.execution_count is None
        for output in cell.outputs:
            assert output.output_type != "error"
            if "execution_count" in output:
                assert output.execution_count == cell.execution_count
            if output.output_type == "stream":
                assert output.name == "stdout", output.text
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_metadata_is_what_jupyterlab_writes_less_local_details(path):
    nb = read(path)
    assert nb.metadata.kernelspec == {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    assert nb.metadata.language_info == LANGUAGE_INFO, (
        f"{path.name}: language_info must be exactly {LANGUAGE_INFO} "
        "(drop the local 'version' JupyterLab adds)"
    )
    for cell in nb.cells:
        assert set(cell.metadata) <= {"tags"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_starts_with_the_same_setup_cell(path):
    first = code_cells(path)[0].source
    assert first == code_cells(MAIN)[0].source, (
        f"{path.name}: the first code cell must be the set-up cell of "
        f"{MAIN.name}, unchanged"
    )
    assert 'REPO = ""' in first
    assert "find_spec(\"helpers\")" in first


def test_all_17_figures_in_order_with_captions():
    text = "\n".join(c.source for c in read(MAIN).cells
                     if c.cell_type == "markdown")
    images = re.findall(r"!\[Figure 2\.(\d+)\]\(([^)]+)\)", text)
    assert [int(n) for n, _ in images] == list(range(1, 18))
    for n, url in images:
        assert url == FIGURE_URL.format(int(n))
        assert re.search(rf"^\*Figure 2\.{n}: \S.+", text, re.MULTILINE), (
            f"Figure 2.{n} needs a caption"
        )


def test_table_2_1_is_the_books():
    text = "\n".join(c.source for c in read(MAIN).cells
                     if c.cell_type == "markdown")
    rows = re.findall(
        r"^\| ((?:Regular|KV cache)(?: compiled)?) \| ([^|]+) \| "
        r"(\d+) \| ([^|]+) \|$", text, re.MULTILINE,
    )
    book = [
        ("Mac Mini M4 CPU", [5, 6, 28, 68], ["-"] * 4),
        ("Mac Mini M4 GPU", [27, 43, 41, 71], ["-"] * 4),
        ("NVIDIA H100 GPU", [51, 164, 48, 141],
         ["1.55 GB", "1.81 GB", "1.52 GB", "1.81 GB"]),
    ]
    modes = ["Regular", "Regular compiled", "KV cache", "KV cache compiled"]
    expected = [(mode, hardware, str(speed), memory)
                for hardware, speeds, memories in book
                for mode, speed, memory in zip(modes, speeds, memories,
                                               strict=True)]
    assert [tuple(c.strip() for c in row) for row in rows] == expected
