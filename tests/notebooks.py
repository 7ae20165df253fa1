"""Find the chapter's notebooks and read their code cells."""

import ast
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


# A reader's order within the chapter's folder: the chapter, then the
# exercises, then their solutions (which then find the chapter's compiled
# kernels in inductor's cache on disk, as on a reader's machine)
READING_ORDER = ["ch02_main.ipynb", "ch02_exercises.ipynb",
                 "ch02_exercise-solutions.ipynb"]


def all_notebooks():
    """Every notebook under ch02/, folder by folder, in reading order."""
    def order(path):
        rank = (READING_ORDER.index(path.name)
                if path.name in READING_ORDER else len(READING_ORDER))
        return path.parent.name, rank, path.name

    return sorted(
        (p for p in (ROOT / "ch02").rglob("*.ipynb")
         if ".ipynb_checkpoints" not in p.parts),
        key=order,
    )


def code_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def parse_cell(source):
    """Parse a code cell, ignoring IPython shell (!) and magic (%) lines."""
    lines = [
        "" if line.lstrip().startswith(("!", "%")) else line
        for line in source.splitlines()
    ]
    return ast.parse("\n".join(lines))


def without_docstring(node):
    body = node.body
    if (body and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        node.body = body[1:]
    return node
