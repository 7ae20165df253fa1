"""torch_compile_works: True where compiling works, a clear False where not."""

import torch

from helpers.compile_support import torch_compile_works


def test_compiling_works_on_this_machine(capsys):
    assert torch_compile_works("cpu")
    assert capsys.readouterr().out == ""


def test_a_broken_compiler_gives_a_message_not_a_traceback(
    monkeypatch, capsys
):
    def broken_compile(fn, *args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("InvalidCxxCompiler: cl not found\nmore")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    assert not torch_compile_works("cpu")
    out = capsys.readouterr().out
    assert "cl not found" in out and "Troubleshooting" in out
    assert "more" not in out
