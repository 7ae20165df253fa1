"""What a reader reads: README sizes, links that resolve, short teaching
cells, no test machine in prose, and result tables that are the
benchmark scripts' own output from the committed JSON."""

import contextlib
import io
import re
import shlex
from pathlib import Path

import nbformat
import pytest

from notebooks import ROOT, all_notebooks
from script_args import load_script

READMES = sorted(
    p for p in ROOT.rglob("*.md")
    if not {".venv", ".git", ".pytest_cache"} & set(p.parts)
)
SIZE_LIMITS = {  # bytes
    "README.md": 6000,
    "ch02/README.md": 6000,
    "tests/README.md": 8000,
    "ch02/02_decoding-strategies/README.md": 10000,
    "ch02/03_faster-generation/README.md": 10000,
}
MAIN = ROOT / "ch02" / "01_main-chapter-code" / "ch02_main.ipynb"
MAX_MARKDOWN_LINES = 30
# Names of the machines this repository is tested and measured on: they
# belong in tables that name the CPU of a measurement, never in prose
MACHINE = re.compile(
    r"\bZen ?\d|\bEPYC\b|\bXeon\b|family 26|test machine|"
    r"\b2-core (?:AMD|Intel|x86|test)", re.IGNORECASE,
)
GENERATED = re.compile(
    r"<!-- generated: (\S+) (.+?) -->\n(.*?)<!-- end generated -->\n",
    re.DOTALL,
)
LINK = re.compile(r"\]\(([^)\s]+)\)|<a href=\"([^\"]+)\"")


def markdown_texts():
    """(where, text) of every README and every notebook's markdown."""
    for path in READMES:
        yield path, path.read_text(encoding="utf-8")
    for path in all_notebooks():
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                yield path.with_name(f"{path.name}, cell {i}"), cell.source


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    text = path.read_text(encoding="utf-8")
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("name,limit", SIZE_LIMITS.items())
def test_readme_sizes(name, limit):
    size = len((ROOT / name).read_bytes())
    assert size <= limit, f"{name}: {size} bytes, at most {limit}"


def test_every_relative_link_resolves():
    broken = []
    for where, text in markdown_texts():
        folder = where.parent
        for match in LINK.finditer(text):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (folder / file).resolve() if file else where
            if file and not path.exists():
                broken.append(f"{where}: {target}")
            elif anchor and path.suffix == ".md" and (
                    anchor not in anchors(path)):
                broken.append(f"{where}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_chapter_markdown_cells_are_short():
    nb = nbformat.read(MAIN, as_version=4)
    long = [(i, len(c.source.splitlines())) for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown"
            and len(c.source.splitlines()) > MAX_MARKDOWN_LINES]
    assert not long, f"cells (index, lines) over {MAX_MARKDOWN_LINES}: {long}"


def prose(text):
    """The text less tables, generated blocks and code blocks."""
    text = GENERATED.sub("", text)
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith("|"))


def test_no_test_machine_in_prose():
    found = [f"{where}: {line.strip()}"
             for where, text in markdown_texts()
             for line in prose(text).splitlines() if MACHINE.search(line)]
    assert not found, "\n".join(found)


def test_the_machine_pattern_finds_a_story():
    assert MACHINE.search("on the Zen 5 in a quieter session")
    assert MACHINE.search("On this repository's 2-core test machine")
    assert not MACHINE.search(prose("| AMD EPYC Zen 5 | 3.7 min |"))


def generated_blocks():
    for path in READMES:
        text = path.read_text(encoding="utf-8")
        for match in GENERATED.finditer(text):
            yield path, match


def test_readmes_have_generated_tables():
    assert {p.parent.name for p, _ in generated_blocks()} >= {
        "03_faster-generation"}


@pytest.mark.parametrize(
    "path,match", list(generated_blocks()),
    ids=lambda x: x.name if isinstance(x, Path) else x.group(1),
)
def test_generated_tables_are_the_scripts_output(path, match, monkeypatch):
    script, args = match.group(1), shlex.split(match.group(2))
    module = load_script(path.parent / script)
    monkeypatch.chdir(path.parent)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert module.main(args) == 0
    assert match.group(3) == out.getvalue(), (
        f"{path}: regenerate the table with `{script} {match.group(2)}` "
        f"in {path.parent.name}/:\n{out.getvalue()}"
    )
