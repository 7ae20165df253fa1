"""Notebook listings are identical to helpers; notebook hygiene."""

import ast
import importlib
import inspect
import pkgutil

import nbformat
import pytest

import helpers
from notebooks import (
    all_notebooks,
    code_cells,
    parse_cell,
    without_docstring,
)

NOTEBOOKS = all_notebooks()
IDS = [p.name for p in NOTEBOOKS]

# Listings each notebook must define (the book's listings)
EXPECTED_LISTINGS = {
    "ch02_main.ipynb": {
        "get_device", "generate_text_basic", "generate_text_basic_cache",
        "generate_stats",
    },
    "ch02_exercise-solutions.ipynb": {
        "generate_text_basic_stream", "generate_text_basic_stream_cache",
    },
}


def helper_functions():
    """name -> AST of every top-level function in the helpers package."""
    found = {}
    for info in pkgutil.iter_modules(helpers.__path__):
        module = importlib.import_module(f"helpers.{info.name}")
        tree = ast.parse(inspect.getsource(module))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found[node.name] = node
    return found


HELPERS = helper_functions()


def notebook_functions(path):
    for cell in code_cells(path):
        for node in parse_cell(cell.source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                yield node


def test_there_are_notebooks():
    assert any(p.name == "ch02_main.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_listings_match_helpers(path):
    for node in notebook_functions(path):
        if node.name not in HELPERS:
            continue
        ours = ast.dump(without_docstring(node))
        theirs = ast.dump(without_docstring(HELPERS[node.name]))
        assert ours == theirs, (
            f"{path.name}: {node.name} differs from helpers; change both "
            "together (helpers is the source of truth)"
        )


@pytest.mark.parametrize("name", sorted(EXPECTED_LISTINGS))
def test_book_listings_are_defined(name):
    path = next(p for p in NOTEBOOKS if p.name == name)
    defined = {node.name for node in notebook_functions(path)}
    assert EXPECTED_LISTINGS[name] <= defined


def test_a_listing_is_defined_in_one_notebook_only():
    seen = {}
    for path in NOTEBOOKS:
        for node in notebook_functions(path):
            if node.name in HELPERS:
                assert node.name not in seen, (
                    f"{node.name} is defined in {seen.get(node.name)} and "
                    f"{path.name}; later notebooks import it from helpers"
                )
                seen[node.name] = path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_one_listing_per_cell(path):
    for cell in code_cells(path):
        defs = [n for n in parse_cell(cell.source).body
                if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert len(defs) <= 1, f"{path.name}: one listing per cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_code_lines_fit_the_page(path):
    for cell in code_cells(path):
        for line in cell.source.splitlines():
            assert len(line) <= 76, f"{path.name}: {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_outputs_are_checked_and_clean(path):
    for cell in code_cells(path):
        if cell.outputs:
            assert "# NBVAL_CHECK_OUTPUT" in cell.source, (
                f"{path.name}: only outputs that CI verifies are committed; "
                f"cell:\n{cell.source}"
            )
        for output in cell.outputs:
            assert output.output_type != "error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_metadata_leaks_nothing(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    assert set(nb.metadata.get("language_info", {})) <= {"name"}
    for cell in nb.cells:
        assert set(cell.metadata) <= {"tags"}
