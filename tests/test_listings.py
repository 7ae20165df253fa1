"""The notebooks carry the book's listings, identical to `helpers`.

Compared by source text, comments included; only blank lines, trailing
spaces and a helper's docstring may differ.
"""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest

import helpers
from notebooks import ROOT, all_notebooks, code_cells, parse_cell

NOTEBOOKS = all_notebooks()
IDS = [p.name for p in NOTEBOOKS]
MAIN = ROOT / "ch02" / "01_main-chapter-code" / "ch02_main.ipynb"
SOLUTIONS = MAIN.with_name("ch02_exercise-solutions.ipynb")
REFERENCE = Path(__file__).parent / "book_listings"

# Every listing of the chapter: the helper it must equal, or, for the two
# loops that are no function, the reference file in tests/book_listings/
BOOK_LISTINGS = {
    "2.1": "get_device",
    "2.2": "generate_text_basic",
    "2.3": "generate_stats",
    "2.4": "generate_text_basic_cache",
    "2.5": REFERENCE / "listing_2.5.txt",
    "2.6": REFERENCE / "listing_2.6.txt",
}
# Exercise 2.2's solutions, defined in the solutions notebook
SOLUTION_FUNCTIONS = {
    "generate_text_basic_stream", "generate_text_basic_stream_cache",
}
CHANGE_MARK = "# Changed from the book:"


def normalized(source):
    """The lines that must match: no blank lines, no trailing spaces."""
    return [line.rstrip() for line in source.splitlines() if line.strip()]


def function_source(source, node):
    """Source text of a def, decorators included, docstring left out."""
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    body = node.body
    skip = set()
    if (body and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    return "\n".join(line for number, line in
                     enumerate(lines[first - 1:node.end_lineno], first)
                     if number not in skip)


def helper_functions():
    """name -> source of every top-level def in `helpers`, found by a
    recursive walk of the package."""
    found = {}
    for info in pkgutil.walk_packages(helpers.__path__, "helpers."):
        module = importlib.import_module(info.name)
        source = inspect.getsource(module)
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert node.name not in found, f"two helpers {node.name}"
                found[node.name] = function_source(source, node)
    return found


HELPERS = helper_functions()


def notebook_functions(path):
    """(name, source) of every def in the notebook's code cells."""
    for cell in code_cells(path):
        yield from cell_functions(cell.source)


def cell_functions(source):
    for node in parse_cell(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name, function_source(source, node)


def listing_cells(path):
    """Listing number -> the code cell right after the markdown line
    "**Listing 2.N** ..." that introduces it."""
    nb = nbformat.read(path, as_version=4)
    found = {}
    for i, cell in enumerate(nb.cells):
        match = re.search(r"^\*\*Listing (2\.\d)\*\*", cell.source,
                          flags=re.MULTILINE)
        if cell.cell_type != "markdown" or match is None:
            continue
        number = match.group(1)
        assert number not in found, f"two cells for Listing {number}"
        assert nb.cells[i + 1].cell_type == "code", (
            f"Listing {number} must be followed by its code cell"
        )
        found[number] = nb.cells[i + 1].source
    return found


def test_helpers_walk_finds_the_listings():
    for expected in BOOK_LISTINGS.values():
        if isinstance(expected, str):
            assert expected in HELPERS
    assert SOLUTION_FUNCTIONS <= set(HELPERS)


def test_every_book_listing_is_in_the_main_notebook_verbatim():
    cells = listing_cells(MAIN)
    compared = []
    for number, expected in BOOK_LISTINGS.items():
        assert number in cells, f"Listing {number} is missing"
        cell = cells[number]
        if isinstance(expected, Path):
            want = expected.read_text()
            got = cell
        else:
            want = HELPERS[expected]
            defined = dict(cell_functions(cell))
            assert expected in defined, (
                f"the cell after Listing {number} must define {expected}"
            )
            got = defined[expected]
        assert normalized(got) == normalized(want), (
            f"Listing {number} in {MAIN.name} differs from "
            f"{expected if isinstance(expected, str) else expected.name}"
        )
        compared.append(number)
    assert compared == list(BOOK_LISTINGS)
    assert set(cells) == set(BOOK_LISTINGS), "unexpected listing numbers"


def test_exercise_solutions_are_the_helpers():
    defined = dict(notebook_functions(SOLUTIONS))
    compared = set()
    for name in SOLUTION_FUNCTIONS:
        assert name in defined, f"{SOLUTIONS.name} must define {name}"
        assert normalized(defined[name]) == normalized(HELPERS[name]), (
            f"{name} in {SOLUTIONS.name} differs from helpers"
        )
        compared.add(name)
    assert compared == SOLUTION_FUNCTIONS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_functions_named_like_helpers_are_the_helpers(path):
    for name, source in notebook_functions(path):
        if name in HELPERS:
            assert normalized(source) == normalized(HELPERS[name]), (
                f"{path.name}: {name} differs from helpers; change both "
                "together (helpers is the source of truth)"
            )


def test_a_listing_is_defined_in_one_notebook_only():
    seen = {}
    for path in NOTEBOOKS:
        for name, _ in notebook_functions(path):
            if name in HELPERS:
                assert name not in seen, (
                    f"{name} is defined in {seen.get(name)} and "
                    f"{path.name}; later notebooks import it from helpers"
                )
                seen[name] = path.name


def test_only_the_two_real_bugs_are_changed():
    marked = [line for cell in code_cells(MAIN)
              for line in cell.source.splitlines() if CHANGE_MARK in line]
    assert len(marked) == 2, marked
    cells = listing_cells(MAIN)
    assert CHANGE_MARK in cells["2.1"] and "(2, 11)" in cells["2.1"]
    assert CHANGE_MARK in cells["2.6"]
    assert "generate_stats(output_token_ids," not in cells["2.6"]


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
