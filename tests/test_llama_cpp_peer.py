"""llama.cpp as a peer of benchmark.py (``llama_cpp_peer.py``): finding
or building llama-bench, exporting the same weights to GGUF, reading
llama-bench's JSON, and every failure said in one line."""

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

import script_args
from helpers.tiny_model import SMALL_QWEN3_CONFIG, tiny_qwen3_model
from notebooks import ROOT

FOLDER = ROOT / "ch02" / "03_faster-generation"
sys.path.insert(0, str(FOLDER))  # the peer imports transformers_bridge
peer = script_args.load_script(FOLDER / "llama_cpp_peer.py")

# llama.cpp's names for the book model's tensors
GGUF_NAMES = {
    "tok_emb.weight": "token_embd.weight",
    "final_norm.scale": "output_norm.weight",
    "out_head.weight": "output.weight",
}
GGUF_LAYER_NAMES = {
    "att.W_query.weight": "attn_q.weight",
    "att.W_key.weight": "attn_k.weight",
    "att.W_value.weight": "attn_v.weight",
    "att.out_proj.weight": "attn_output.weight",
    "att.q_norm.scale": "attn_q_norm.weight",
    "att.k_norm.scale": "attn_k_norm.weight",
    "ff.fc1.weight": "ffn_gate.weight",
    "ff.fc2.weight": "ffn_up.weight",
    "ff.fc3.weight": "ffn_down.weight",
    "norm1.scale": "attn_norm.weight",
    "norm2.scale": "ffn_norm.weight",
}


def gguf_name(name):
    if name in GGUF_NAMES:
        return GGUF_NAMES[name]
    _, layer, rest = name.split(".", 2)
    return f"blk.{layer}.{GGUF_LAYER_NAMES[rest]}"


def fake_llama_bench(path, body):
    """An executable that stands in for llama-bench."""
    path.write_text(f"#!{sys.executable}\nimport sys, json\n{body}\n")
    path.chmod(0o755)
    return path


LLAMA_BENCH_JSON = """
args = sys.argv
p, n = int(args[args.index("-p") + 1]), int(args[args.index("-n") + 1])
assert args[args.index("-t") + 1] == "2" and "-o" in args
print(json.dumps([
    {"n_prompt": p, "n_gen": 0, "avg_ts": 80.5, "model_type": "qwen3"},
    {"n_prompt": 0, "n_gen": n, "avg_ts": 10.25, "model_type": "qwen3"},
]))
"""


def test_llama_bench_json_is_read(tmp_path):
    bench = fake_llama_bench(tmp_path / "llama-bench", LLAMA_BENCH_JSON)
    speed = peer.run_llama_bench(bench, tmp_path / "m.gguf", pp=512,
                                 tg=128, threads=2, repeats=3)
    assert speed == {"prompt_tokens_per_sec": 80.5, "tokens_per_sec": 10.25}


@pytest.mark.parametrize(("body", "message"), [
    ("sys.exit('error: failed to load model')",
     "llama-bench on m.gguf failed (exit code 1): error: failed to load "
     "model"),
    ("print('not json')", "llama-bench's output is not the JSON expected"),
])
def test_llama_bench_failures_are_one_line(tmp_path, body, message):
    bench = fake_llama_bench(tmp_path / "llama-bench", body)
    with pytest.raises(peer.PeerError, match=re.escape(message)) as info:
        peer.run_llama_bench(bench, tmp_path / "m.gguf", 512, 128, 2, 1)
    assert "\n" not in str(info.value)


def test_llama_bench_given_by_the_environment(tmp_path, monkeypatch):
    bench = fake_llama_bench(tmp_path / "llama-bench", "")
    monkeypatch.setenv("LLAMA_BENCH", str(bench))
    assert peer.built_llama_bench(tmp_path / "none") == (bench, 0.0)
    monkeypatch.setenv("LLAMA_BENCH", str(tmp_path / "missing"))
    with pytest.raises(peer.PeerError, match="is not a file"):
        peer.built_llama_bench(tmp_path / "none")


def test_a_build_found_in_the_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("LLAMA_BENCH", raising=False)
    monkeypatch.setattr(peer.shutil, "which", lambda name: None)
    # "build", or "build-avx2" where PyTorch runs AVX2 kernels
    folder = peer.build_flavour()[0]
    built = tmp_path / "llama.cpp" / folder / "bin" / "llama-bench"
    built.parent.mkdir(parents=True)
    fake_llama_bench(built, "")
    assert peer.built_llama_bench(tmp_path) == (built, 0.0)


@pytest.mark.parametrize(("capability", "amx", "name"), [
    ("AVX512", False, "build"), ("AVX2", False, "build-avx2"),
    ("AVX2", True, "build-avx2"), ("AVX512", True, "build-no-amx")])
def test_llama_cpp_uses_the_vector_instructions_pytorch_uses(
        tmp_path, monkeypatch, capability, amx, name):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability",
                        lambda: capability)
    monkeypatch.setattr(torch._C._cpu, "_is_amx_tile_supported",
                        lambda: amx)
    folder, flags = peer.build_flavour()
    assert folder == name
    assert ("-DGGML_NATIVE=ON" in flags) == (name == "build")
    assert ("-DGGML_AVX2=ON" in flags) == (name != "build")
    assert ("-DGGML_AVX512_BF16=ON" in flags) == (name == "build-no-amx")
    assert not any("AMX" in flag for flag in flags)
    # A build for the other instructions is not taken for this one
    monkeypatch.delenv("LLAMA_BENCH", raising=False)
    monkeypatch.setattr(peer.shutil, "which", lambda name: None)
    for each in ("build", "build-avx2", "build-no-amx"):
        built = tmp_path / "llama.cpp" / each / "bin" / "llama-bench"
        built.parent.mkdir(parents=True)
        fake_llama_bench(built, "")
    assert peer.built_llama_bench(tmp_path) == (
        tmp_path / "llama.cpp" / name / "bin" / "llama-bench", 0.0)


def test_without_cmake_the_build_is_refused_in_one_line(tmp_path,
                                                         monkeypatch):
    monkeypatch.delenv("LLAMA_BENCH", raising=False)
    monkeypatch.setattr(peer.shutil, "which", lambda name: None)
    with pytest.raises(peer.PeerError, match="CMake is not installed"):
        peer.built_llama_bench(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing fetched or written


def test_a_failing_pip_leaves_no_source_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(peer, "_pip", lambda: [sys.executable, "-c",
                                               "raise SystemExit('no index')"])
    with pytest.raises(peer.PeerError, match="pip download .* failed .*"
                       "no index"):
        peer.llama_cpp_source(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_looking_for_pip_leaves_torch_compile_working():
    """A first run looks for a pip before the benchmark compiles its
    modes, in the same process."""
    code = (f"import sys; sys.path.insert(0, {str(FOLDER)!r}); "
            "import llama_cpp_peer, torch; llama_cpp_peer._pip(); "
            "print(torch.compile(lambda x: x.sin() + 1)(torch.ones(3)))")
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-400:]


@pytest.fixture(scope="session")
def llama_cpp_source(tmp_path_factory):
    """llama.cpp's source from the llama-cpp-python sdist (76 MB from the
    package index), fetched once."""
    return peer.llama_cpp_source(tmp_path_factory.mktemp("llama.cpp"))


@pytest.mark.slow  # fetches llama.cpp's source and runs its converter
def test_export_holds_every_tensor_with_its_shape(llama_cpp_source,
                                                  tmp_path):
    model = tiny_qwen3_model(cfg=SMALL_QWEN3_CONFIG)  # the real vocabulary
    paths = peer.export_gguf(model, llama_cpp_source, tmp_path)
    assert set(paths) == {"bf16", "q8_0"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "qwen3-bf16.gguf", "qwen3-q8_0.gguf"]  # the hf/ folder is gone
    state = model.state_dict()
    for outtype, path in paths.items():
        reader = gguf.GGUFReader(path)
        tensors = {t.name: t for t in reader.tensors}
        assert set(tensors) == {gguf_name(name) for name in state}
        for name, weight in state.items():
            tensor = tensors[gguf_name(name)]
            # GGUF lists a tensor's dimensions innermost first
            assert tuple(int(d) for d in tensor.shape) == tuple(
                reversed(weight.shape)), name
            if weight.dim() == 2:
                assert tensor.tensor_type.name == outtype.upper()
        arch = reader.fields["general.architecture"]
        assert bytes(arch.parts[-1]).decode() == "qwen3"
        tokens = reader.fields["tokenizer.ggml.tokens"]
        assert len(tokens.data) == SMALL_QWEN3_CONFIG["vocab_size"]
    # The bf16 file holds the model's own numbers
    reader = gguf.GGUFReader(paths["bf16"])
    emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
    ours = model.tok_emb.weight.detach().float().numpy()
    theirs = np.asarray(emb.data).view(np.uint16).astype(np.uint32) << 16
    np.testing.assert_array_equal(theirs.view(np.float32).reshape(
        ours.shape), ours)


@pytest.mark.slow
def test_rows_from_the_same_weights(llama_cpp_source, tmp_path,
                                    monkeypatch, capsys):
    bench = fake_llama_bench(tmp_path / "llama-bench", LLAMA_BENCH_JSON)
    monkeypatch.setenv("LLAMA_BENCH", str(bench))
    folder = Path(llama_cpp_source).parent
    args = types.SimpleNamespace(llama_cpp_dir=folder, pp=64, new_tokens=8,
                                 threads=2, repeats=1)
    llama_cpp = peer.LlamaCppPeer(tiny_qwen3_model(cfg=SMALL_QWEN3_CONFIG),
                                  args)
    llama_cpp.decode_round()
    rows = llama_cpp.rows()
    assert [row["mode"] for row in rows] == ["llama.cpp (bf16 GGUF)",
                                             "llama.cpp (q8_0 GGUF)"]
    for row in rows:
        assert row["tokens_per_sec"] == 10.25
        assert row["prompt_tokens_per_sec"] == 80.5
        assert row["time_to_first_token_s"] == pytest.approx(64 / 80.5,
                                                             abs=1e-5)
    assert rows[1]["gguf_bytes"] < rows[0]["gguf_bytes"]
    assert "exported the weights to GGUF (bf16, q8_0)" in (
        capsys.readouterr().out)
    assert not llama_cpp.paths["bf16"].exists()  # the files are removed
    json.dumps(rows)  # what benchmark.py writes


@pytest.fixture
def stand_in_export(tmp_path, monkeypatch):
    """GGUF files of four bytes in place of the export; the types asked
    for, in order."""
    monkeypatch.setattr(peer, "llama_cpp_source", lambda folder: folder)
    asked = []

    def export(model, source, out_dir, outtypes):
        asked.extend(outtypes)
        paths = {t: Path(out_dir) / f"qwen3-{t}.gguf" for t in outtypes}
        for path in paths.values():
            path.write_bytes(b"GGUF")
        return paths

    monkeypatch.setattr(peer, "export_gguf", export)
    return asked


def stand_in_peer(tmp_path, monkeypatch, body, repeats=1, model=None):
    """A ``LlamaCppPeer`` whose llama-bench runs ``body``."""
    monkeypatch.setenv("LLAMA_BENCH", str(fake_llama_bench(
        tmp_path / "llama-bench", body)))
    args = types.SimpleNamespace(llama_cpp_dir=tmp_path, pp=64,
                                 new_tokens=8, threads=2, repeats=repeats)
    return peer.LlamaCppPeer(
        model or tiny_qwen3_model(cfg=SMALL_QWEN3_CONFIG), args)


def test_a_float32_model_is_compared_with_an_f32_file_too(
        tmp_path, monkeypatch, stand_in_export):
    """On a CPU without bfloat16 instructions the model runs in float32:
    the same bytes per weight as an f32 GGUF."""
    model = tiny_qwen3_model(cfg={**SMALL_QWEN3_CONFIG,
                                  "dtype": torch.float32})
    rows = stand_in_peer(tmp_path, monkeypatch, LLAMA_BENCH_JSON,
                         model=model).rows()
    assert stand_in_export == ["f32", "bf16", "q8_0"]
    assert [row["gguf_type"] for row in rows] == stand_in_export


def test_decoding_is_the_median_of_the_rounds(tmp_path, monkeypatch,
                                              stand_in_export):
    """One decoding run per file and round (-r 1, no prompt), the prompt
    once at the end with --repeats runs."""
    calls = tmp_path / "calls"
    body = f"""
calls = {str(calls)!r}
with open(calls, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
runs = open(calls).read().count("-n 8")
speeds = {{1: 10.0, 2: 12.0, 3: 30.0, 4: 32.0, 5: 20.0, 6: 22.0}}
args = sys.argv
p, n = int(args[args.index("-p") + 1]), int(args[args.index("-n") + 1])
print(json.dumps([{{"n_prompt": p, "n_gen": n,
                    "avg_ts": speeds[runs] if n else 80.5}}]))
"""
    llama_cpp = stand_in_peer(tmp_path, monkeypatch, body, repeats=3)
    for _ in range(3):
        llama_cpp.decode_round()
    rows = llama_cpp.rows()
    assert [(row["gguf_type"], row["tokens_per_sec"],
             row["runs_tokens_per_sec"]) for row in rows] == [
        ("bf16", 20.0, [10.0, 30.0, 20.0]),
        ("q8_0", 22.0, [12.0, 32.0, 22.0])]
    assert [row["prompt_tokens_per_sec"] for row in rows] == [80.5, 80.5]
    lines = calls.read_text().splitlines()
    assert len(lines) == 8
    assert all("-r 1 -p 0 -n 8" in line for line in lines[:6])
    assert all("-r 3 -p 64 -n 0" in line for line in lines[6:])


def test_a_type_that_fails_leaves_the_others(tmp_path, monkeypatch,
                                             capsys, stand_in_export):
    """llama-bench stopping on one GGUF type (an illegal instruction in a
    kernel for it) costs that row only, with one line."""
    body = ('import signal, os\nif "q8_0" in " ".join(sys.argv): '
            "os.kill(os.getpid(), signal.SIGILL)\n" + LLAMA_BENCH_JSON)
    llama_cpp = stand_in_peer(tmp_path, monkeypatch, body)
    llama_cpp.decode_round()
    llama_cpp.decode_round()  # the type left out is not run again
    rows = llama_cpp.rows()
    assert [row["gguf_type"] for row in rows] == ["bf16"]
    lines = [line for line in capsys.readouterr().out.splitlines()
             if "left out" in line]
    assert len(lines) == 1 and lines[0].startswith(
        "  llama.cpp q8_0 left out: llama-bench on qwen3-q8_0.gguf failed")
