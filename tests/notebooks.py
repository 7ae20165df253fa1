"""Find the chapter's notebooks and read their code cells."""

import ast
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def all_notebooks():
    return sorted(
        p for p in (ROOT / "ch02").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
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
