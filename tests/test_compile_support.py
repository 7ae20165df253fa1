"""torch_compile_works: True where compiling works, a clear False where not."""

import pytest
import torch

from helpers.compile_support import torch_compile_works


def test_compiling_works_on_this_machine(capsys):
    assert torch_compile_works("cpu")
    assert capsys.readouterr().out == ""


@pytest.fixture
def isa_not_chosen():
    """Nobody has set inductor's vec_isa_ok switch yet (a new process)."""
    from torch._inductor import config

    with config.patch({"cpp.vec_isa_ok": None}):
        yield config.cpp


def test_a_broken_compiler_gives_a_message_not_a_traceback(
    monkeypatch, capsys, isa_not_chosen
):
    def broken_compile(fn, *args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("InvalidCxxCompiler: cl not found\nmore")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    assert not torch_compile_works("cpu")
    out = capsys.readouterr().out
    assert "cl not found" in out and "docs/troubleshooting.md" in out
    assert "more" not in out and out.count("torch.compile does not") == 1
    assert isa_not_chosen.vec_isa_ok is None  # inductor checks, as usual


def test_the_quick_probe_trusts_the_cpu_and_checks_the_compiler(
    isa_not_chosen
):
    from torch._inductor import cpu_vec_isa

    assert torch_compile_works("cpu")
    assert isa_not_chosen.vec_isa_ok is True
    capability = torch.backends.cpu.get_cpu_capability().lower()
    if capability.startswith(("avx2", "avx512")):  # x86: the CPU's best
        assert str(cpu_vec_isa.pick_vec_isa()).startswith(capability)


def test_a_compiler_without_an_instruction_set_gets_inductors_checks(
    monkeypatch, capsys, isa_not_chosen
):
    real_compile = torch.compile
    tried = []

    def compile_needing_checks(fn, *args, **kwargs):
        tried.append(isa_not_chosen.vec_isa_ok)
        if isa_not_chosen.vec_isa_ok:
            raise RuntimeError("error: unknown option -mavx512f")
        return real_compile(fn, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", compile_needing_checks)
    assert torch_compile_works("cpu")
    assert tried == [True, None] and capsys.readouterr().out == ""


def test_compiling_block_by_block_gives_the_models_tokens_and_keeps_it():
    from helpers.ch02 import (
        generate_text_basic,
        generate_text_basic_cache,
    )
    from helpers.compile_support import compile_blocks
    from helpers.tiny_model import tiny_qwen3_model

    torch._dynamo.config.allow_unspec_int_on_nn_module = True
    model = tiny_qwen3_model()  # float32
    compiled = compile_blocks(model)
    token_ids = torch.tensor([[1, 2, 3, 4, 5]])
    for generate in (generate_text_basic, generate_text_basic_cache):
        expected = generate(model, token_ids, 8)
        assert torch.equal(generate(compiled, token_ids, 8), expected)
    # The weights are shared, the original's blocks stay uncompiled
    assert compiled.tok_emb.weight is model.tok_emb.weight
    assert all(isinstance(b, torch._dynamo.eval_frame.OptimizedModule)
               for b in compiled.trf_blocks)
    assert not any(isinstance(b, torch._dynamo.eval_frame.OptimizedModule)
                   for b in model.trf_blocks)
    assert set(model.state_dict()) == {
        k.replace("._orig_mod", "") for k in compiled.state_dict()
    }


def test_compile_blocks_names_what_it_needs():
    from helpers.compile_support import compile_blocks

    with pytest.raises(TypeError, match="trf_blocks"):
        compile_blocks(torch.nn.Linear(2, 2))
