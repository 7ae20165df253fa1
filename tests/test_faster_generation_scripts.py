"""The scripts of ch02/03_faster-generation: their options and output
files, on a tiny model (they measure nothing there; the real runs are in
that folder's README)."""

import json
import os
import re
import subprocess
import sys
import types

import pytest
import torch

import script_args
from helpers.cpu_kind import last_level_cache_bytes
from helpers.dtype import fastest_dtype
from notebooks import ROOT

FOLDER = ROOT / "ch02" / "03_faster-generation"


def bad_arguments(script, args, capsys):
    """(exit code, standard error) of ``script ARGS``'s argument check."""
    return script_args.bad_arguments(FOLDER / script, args, capsys)


def run(script, *args, env=None):
    return subprocess.run(
        [sys.executable, str(FOLDER / script), *args], capture_output=True,
        text=True, timeout=600, cwd=ROOT, env={**os.environ, **(env or {})},
    )


def test_benchmark_cli_runs_both_engines_of_the_command(
    eager_fast_engine, monkeypatch, capsys
):
    # The script sets these for the command it runs; put them back after
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    script = script_args.load_script(FOLDER / "benchmark_cli.py")
    assert script.main(["--small", "--max-new-tokens", "4", "--repeats",
                        "2", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "small 2-layer model, random weights, CPU (" in out
    for engine in ("book", "fast"):
        assert re.search(rf"--engine {engine}\s+[\d.]+ tokens/sec "
                         r"\(float32", out), out
    assert re.search(r"The fast engine: [\d.]+x the book engine's", out)


def test_kv_cache_vs_length_writes_table_json_and_plot(tmp_path):
    result = run("kv_cache_vs_length.py", "--tiny", "--lengths", "4", "32",
                 "--new-tokens", "4", "--json", str(tmp_path / "kv.json"),
                 "--plot", str(tmp_path / "kv.png"))
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "kv.json").read_text())
    assert {"date", "torch", "threads", "cpu", "cpu_kind", "dtype",
            "new_tokens"} <= set(saved)
    rows = saved["rows"]
    assert [row["prompt_tokens"] for row in rows] == [4, 32]
    for row in rows:
        assert set(row) == {"prompt_tokens", "ms_per_token_no_cache",
                            "ms_per_token_cache", "speedup"}
        assert row["speedup"] == pytest.approx(
            row["ms_per_token_no_cache"] / row["ms_per_token_cache"],
            rel=0.05,
        )
        assert f"{row['prompt_tokens']:>8}" in result.stdout
    assert (tmp_path / "kv.png").read_bytes()[:4] == b"\x89PNG"
    table = run("kv_cache_vs_length.py", "--markdown",
                str(tmp_path / "kv.json")).stdout.splitlines()
    assert table[0].startswith(
        f"{saved['cpu']} ({saved['cpu_kind']}), {saved['dtype']}, "
        f"{saved['threads']} threads")
    no_cache = rows[1]["ms_per_token_no_cache"]
    assert table[-1].startswith(f"| 32 | {no_cache:.1f} |")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lengths", "0"], "--lengths: must be >= 1"),
        (["--lengths", "ten"], "must be a whole number"),
        (["--new-tokens", "1"], "--new-tokens: must be >= 2"),
        (["--device", "meta"], "--device meta holds no values"),
        (["--tiny", "--lengths", "126"], "more than the model's context "
         "length, 128"),
        (["--json", "/no/such/folder/kv.json"], "does not exist"),
        (["--device", "nonsense"], "--device nonsense"),
        (["--dtype", "float16"], "--dtype: invalid choice: 'float16'"),
    ],
)
def test_kv_cache_vs_length_bad_arguments(args, message, capsys):
    code, err = bad_arguments("kv_cache_vs_length.py", args, capsys)
    assert code == 2
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err


@pytest.mark.slow  # compiles the fast path for the long run
def test_benchmark_runs_the_chosen_modes(tmp_path):
    result = run("benchmark.py", "--tiny", "--dtype", "bfloat16",
                 "--modes", "book-cache", "fast-eager", "fast-compiled",
                 "fast-compiled-int8", "--new-tokens", "5", "--repeats", "1",
                 "--batch-sizes", "--long-steps", "3", "--pp", "40",
                 "--json", str(tmp_path / "b.json"),
                 "--plot", str(tmp_path / "b.png"),
                 # A peer it cannot run: one line, and the run goes on
                 "--peers", "llama.cpp",
                 env={"LLAMA_BENCH": str(tmp_path / "no-llama-bench")})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines()
             if "left out" in line]
    assert lines == [f"  llama.cpp left out: LLAMA_BENCH={tmp_path}/"
                     "no-llama-bench is not a file: point it at a "
                     "llama-bench binary, or unset it"]
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["peers"] == []
    assert report["cpu_kind"] and report["threads"] >= 1
    reading = report["prompt_reading"]
    assert [row["mode"] for row in reading] == [
        "book: KV cache", "fast path", "fast path (compiled prefill)",
        "fast path (int8)"]
    assert re.search(r"compiling the fast path's prefill: [\d.]+ s",
                     result.stdout)
    # The fast path's prompt in float32 where bfloat16 is slow here
    slow_bf16 = fastest_dtype("cpu", "prompts")[0] == torch.float32
    for row in reading:
        assert row["prompt_tokens"] == 40
        assert row["prompt_dtype"] == (
            "float32" if slow_bf16 and row["mode"] != "book: KV cache"
            else "bfloat16")
        assert row["prompt_tokens_per_sec"] == pytest.approx(
            40 / row["time_to_first_token_s"], rel=0.05)
        mode = re.escape(row["mode"])
        assert re.search(rf"{mode}\s+pp40:\s+[\d.]+ tokens/sec, "
                         r"time to first token\s+[\d.]+ s", result.stdout)
    assert [m["mode"] for m in report["modes"]] == [
        "book: KV cache", "fast path (eager)", "fast path (compiled)",
        "fast path (compiled, int8 weights)"]
    accuracy = report["int8_accuracy"]
    assert accuracy["steps"] == 128 - 10  # the tiny model's context
    assert 0 <= accuracy["greedy_agreement"] <= 118
    assert 0 < accuracy["max_logit_difference"] < accuracy["logits_std"]
    assert (f"the same greedy token at {accuracy['greedy_agreement']} "
            "of 118") in result.stdout
    for mode in report["modes"]:
        assert mode["tokens_per_sec"] > 0
        assert len(mode["runs_tokens_per_sec"]) == 1
    # The README's table of this run: where and when, and its speeds
    table = run("benchmark.py", "--markdown", str(tmp_path / "b.json"))
    assert table.returncode == 0, table.stderr
    header, rule, row = table.stdout.splitlines()
    assert header.startswith(f"| run | CPU, {report['threads']} threads | "
                             "dtype | date | book's best |")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "`b`" and cells[2] == "bfloat16"
    assert cells[3] == report["date"] and report["cpu"] in cells[1]
    # Runs with other thread counts say theirs in their rows
    (tmp_path / "c.json").write_text(json.dumps(
        {**report, "threads": report["threads"] + 1}))
    table = run("benchmark.py", "--markdown", str(tmp_path / "b.json"),
                str(tmp_path / "c.json")).stdout.splitlines()
    assert table[0].startswith("| run | CPU | dtype |")
    cpus = [row.split(" | ")[1] for row in table[2:4]]
    assert cpus[0].endswith(f", {report['threads']} threads")
    assert cpus[1].endswith(f", {report['threads'] + 1} threads")
    book = report["modes"][0]["tokens_per_sec"]
    assert cells[4] == f"{book:.1f}" and cells[8:10] == ["-", "-"]
    fast = report["modes"][2]
    assert cells[6] == (f"{fast['percent_of_limit']:.1f}%"
                        if fast["percent_of_limit"] is not None
                        else "above: limit wrong")
    assert len(report["per_token_ms"]) == 3
    assert "ms/token at steps 1-2, " in result.stdout
    assert report["batches"] == []
    assert "Weights read per token" in result.stdout
    assert report["dtype"] == "bfloat16"  # as asked, on the tiny model
    assert 0 < report["weight_check_us"] < 1e5
    assert "FastGenerator's weight check: " in result.stdout
    assert "random weights, bfloat16, cpu (" in result.stdout  # CPU kind
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modes", "turbo"], "invalid choice: 'turbo'"),
        (["--repeats", "0"], "--repeats: must be >= 1"),
        (["--batch-sizes", "0"], "--batch-sizes: must be >= 1"),
        (["--plot", "/no/such/folder/b.png"], "does not exist"),
        (["--dtype", "bf16"], "--dtype: invalid choice: 'bf16'"),
        (["--tiny", "--pp", "128"], "--pp 128: the prompt and its first "
         "token must fit the model's context length, 128"),
        (["--pp", "-1"], "--pp: must be >= 0"),
        # Before, these passed the check and crashed on a size mismatch
        (["--tiny", "--pp", "0", "--prompt-tokens", "200"],
         "--prompt-tokens 200 + --new-tokens 128 is more than the model's "
         "context length, 128"),
        (["--tiny", "--pp", "0", "--new-tokens", "200", "--long-steps",
          "0"], "--new-tokens 200 is more than the model's context length"),
        (["--tiny", "--pp", "0", "--new-tokens", "8"],
         "--long-steps 1000 is more than the model's context"),
        (["--device", "meta"], "--device meta holds no values"),
        (["--peers", "llamacpp"], "--peers: invalid choice: 'llamacpp' "
         "(choose from 'llama.cpp')"),
    ],
)
def test_benchmark_bad_arguments(args, message, capsys):
    code, err = bad_arguments("benchmark.py", args, capsys)
    assert code == 2
    assert message in err.splitlines()[-1]


@pytest.mark.parametrize("script", ["benchmark.py", "kv_cache_vs_length.py"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "{tmp}"], "is a folder: give a file name"),
        (["--json", "{tmp}/r.png", "--plot", "{tmp}/r.png"],
         "are the same file: give each output its own name"),
        (["--json", "{tmp}/r.json", "--plot", "{tmp}/../{name}/r.json"],
         "are the same file"),
    ],
)
def test_output_paths_are_checked_before_the_run(script, args, message,
                                                 tmp_path, capsys):
    # Before, --json DIR failed after the whole run, and --json r.png
    # --plot r.png overwrote the results with the picture
    args = [a.format(tmp=tmp_path, name=tmp_path.name) for a in args]
    code, err = bad_arguments(script, args, capsys)
    assert code == 2
    assert message in err.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_is_refused(tmp_path, capsys):
    tmp_path.chmod(0o500)
    try:
        code, err = bad_arguments(
            "benchmark.py", ["--json", str(tmp_path / "b.json")], capsys)
    finally:
        tmp_path.chmod(0o700)
    assert code == 2
    assert "is not writable; choose another folder" in err


def test_ratios_to_llama_cpp_pair_the_same_bytes_per_weight(capsys):
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    results = [{"mode": "fast path (compiled)", "tokens_per_sec": 30.0},
               {"mode": "fast path (compiled, int8 weights)",
                "tokens_per_sec": 44.0}]
    reading = [
        {"mode": "fast path", "prompt_tokens_per_sec": 500.0,
         "time_to_first_token_s": 1.024},
        {"mode": "fast path (compiled prefill)",
         "prompt_tokens_per_sec": 600.0, "time_to_first_token_s": 0.853},
        {"mode": "fast path (int8)", "prompt_tokens_per_sec": 400.0,
         "time_to_first_token_s": 1.28}]
    peers = [{"gguf_type": "bf16", "tokens_per_sec": 25.0,
              "prompt_tokens_per_sec": 480.0, "time_to_first_token_s": 1.067},
             {"gguf_type": "q8_0", "tokens_per_sec": 40.0,
              "prompt_tokens_per_sec": 320.0, "time_to_first_token_s": 1.6}]
    benchmark.side_by_side(results, reading, peers, "bfloat16")
    assert capsys.readouterr().out.strip().split("\n\n") == [
        "fast path (compiled) against llama.cpp (bf16 GGUF):\n"
        "  decoding: 1.20x llama.cpp's tokens/sec\n"
        "  prompt, fast path (compiled prefill): 1.25x llama.cpp's "
        "tokens/sec; time to first token 0.85 s vs 1.07 s",
        "fast path (compiled, int8 weights) against llama.cpp (q8_0 GGUF):\n"
        "  decoding: 1.10x llama.cpp's tokens/sec\n"
        "  prompt, fast path (int8): 1.25x llama.cpp's tokens/sec; time to "
        "first token 1.28 s vs 1.60 s"]
    # Our float32 against the f32 GGUF, not the bf16 one
    peers.append({"gguf_type": "f32", "tokens_per_sec": 15.0,
                  "prompt_tokens_per_sec": 200.0,
                  "time_to_first_token_s": 2.56})
    benchmark.side_by_side(results, reading[:1] + reading[2:], peers,
                           "float32")
    out = capsys.readouterr().out
    assert "bf16 GGUF" not in out
    assert ("fast path (compiled) against llama.cpp (f32 GGUF):\n"
            "  decoding: 2.00x llama.cpp's tokens/sec\n"
            "  prompt, fast path: 2.50x") in out


@pytest.mark.parametrize("script", ["benchmark.py", "kv_cache_vs_length.py"])
@pytest.mark.parametrize("content", [None, "not json", '{"modes": '])
def test_markdown_of_a_file_that_is_no_saved_run(script, content, tmp_path,
                                                 capsys):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    code, err = bad_arguments(script, ["--markdown", str(path)], capsys)
    assert code == 2
    assert f"{path}: not a saved run" in err.splitlines()[-1]


def test_a_modes_share_of_the_read_limit():
    """tokens/sec x bytes per token over the bandwidth read beside each
    run, the median of the runs; a mode that reads faster than the
    bandwidth allows gets no share: the limit is wrong there, not the
    mode fast."""
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    share = benchmark.share_of_limit
    assert share([20.0], 1.5e9, [40e9]) == 75.0
    assert share([40.0 / 1.5], 1.5e9, [40e9]) == 100.0
    assert share([40.0], 0.75e9, [40e9]) == 75.0  # int8: half the bytes
    assert share([30.0], 1.5e9, [40e9]) is None  # 112%: above the limit
    # A slow moment slows the run and its read alike: 75% each time
    assert share([20.0, 10.0, 16.0], 1.5e9, [40e9, 20e9, 32e9]) == 75.0
    # The median run, not the median speed over the median read
    assert share([20.0, 10.0, 20.0], 1.5e9, [40e9, 40e9, 20e9]) == 75.0
    with pytest.raises(ValueError):
        share([20.0, 10.0], 1.5e9, [40e9])


def test_each_peer_is_held_to_its_own_bytes_per_weight():
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    f32_bytes = 4 * 10**9  # a billion weights in float32
    assert benchmark.peer_bytes(f32_bytes, torch.float32, "f32") == f32_bytes
    assert benchmark.peer_bytes(f32_bytes, torch.float32, "bf16") == 2e9
    assert benchmark.peer_bytes(2 * 10**9, torch.bfloat16, "q8_0") == \
        1.0625e9


def test_the_read_limit_reads_beyond_the_last_level_cache(tmp_path,
                                                         monkeypatch):
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    for index, size in enumerate(["48K", "2048K", "300M", "64"]):
        (tmp_path / f"index{index}").mkdir()
        (tmp_path / f"index{index}" / "size").write_text(size + "\n")
    assert last_level_cache_bytes(tmp_path) == 300 * 2**20
    assert last_level_cache_bytes(tmp_path / "none") == 0
    sizes = []
    monkeypatch.setattr(benchmark, "last_level_cache_bytes",
                        lambda: 300 * 2**20)
    real_ones = torch.ones

    def ones(n, **kwargs):  # the array's size, then a small one to time
        sizes.append(n)
        return real_ones(1024, **kwargs)

    monkeypatch.setattr(benchmark.torch, "ones", ones)
    assert benchmark.read_bandwidth("cpu", repeats=2) > 0
    # 4 x 300 MiB of float32, and the vector its rows are multiplied by
    assert sizes == [1200 * 2**20 // 4, 1024]


def test_each_run_is_held_to_the_better_read_beside_it(tmp_path,
                                                       monkeypatch, capsys):
    """Read after the warm-up and after every timed run: the machine's
    speed drifts, so a run's share is of the better of the reads just
    before and just after it, not of a read minutes away."""
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    reads = iter([10e9, 20e9, 40e9])
    monkeypatch.setattr(benchmark, "read_bandwidth",
                        lambda device, repeats=3: next(reads))
    speeds = iter([1.0, 1.0, 3.0])  # the warm-up, then two runs
    monkeypatch.setattr(benchmark, "timed",
                        lambda fn, prompt, n: (n / next(speeds), None))
    monkeypatch.setattr(benchmark, "bytes_per_token", lambda model: 8e9)
    # The book's loop only: no compiler probe
    monkeypatch.setattr(benchmark, "torch_compile_works", lambda device: False)
    assert benchmark.main([
        "--tiny", "--modes", "book-cache", "--new-tokens", "3",
        "--repeats", "2", "--pp", "0", "--long-steps", "0", "--batch-sizes",
        "--json", str(tmp_path / "b.json")]) == 0
    assert next(reads, None) is None  # after the warm-up and each run
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["reads_gb_s"] == [10.0, 20.0, 40.0]
    assert report["read_bandwidth_gb_s"] == 20.0  # the median read
    # 1 x 8 GB of 20 GB/s, 3 x 8 GB of 40 GB/s: 40% and 60%
    [mode] = report["modes"]
    assert mode["percent_of_limit"] == 50.0
    assert mode["tokens_per_sec"] == 1.5  # at the median time, 2 s
    assert "Read bandwidth 20.0 GB/s" in capsys.readouterr().out


def test_llama_cpp_decodes_after_each_round_of_ours(tmp_path, monkeypatch,
                                                    capsys):
    """The peer's decoding runs alternate with our modes, so the
    machine's drift cannot decide the ratio; its files are made before
    the rounds and its rows come after them."""
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    events = []
    monkeypatch.setattr(benchmark, "read_bandwidth",
                        lambda device, repeats=3: events.append("read")
                        or 10e9)
    timed = benchmark.timed
    monkeypatch.setattr(benchmark, "timed", lambda *a: events.append(
        "ours") or timed(*a))
    monkeypatch.setattr(benchmark, "torch_compile_works", lambda device: False)

    class StandIn:
        def __init__(self, model, args):
            events.append("export")

        def decode_round(self):
            events.append("llama.cpp")

        def rows(self):
            events.append("rows")
            return [{"mode": "llama.cpp (bf16 GGUF)", "gguf_type": "bf16",
                     "tokens_per_sec": 2.0, "runs_tokens_per_sec": [2.0, 2.0],
                     "prompt_tokens_per_sec": None}]

    monkeypatch.setitem(sys.modules, "llama_cpp_peer", types.SimpleNamespace(
        LlamaCppPeer=StandIn, PeerError=RuntimeError))
    assert benchmark.main([
        "--tiny", "--modes", "book-cache", "--new-tokens", "3",
        "--repeats", "2", "--pp", "0", "--long-steps", "0", "--batch-sizes",
        "--peers", "llama.cpp", "--json", str(tmp_path / "b.json")]) == 0
    assert events == ["export", "ours", "read",  # the warm-up, a read
                      "ours", "read", "llama.cpp", "read",
                      "ours", "read", "llama.cpp", "read", "rows"]
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["peers"][0]["tokens_per_sec"] == 2.0
    assert "llama.cpp (bf16 GGUF)" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "group"), [
    ("aten::mm", "weight products"),
    ("mkldnn::_linear_pointwise", "weight products"),
    ("aten::_weight_int8pack_mm", "weight products"),
    ("graph_1_kernel", "weight products"),  # inductor's C++ GEMM template
    ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
    ("graph_1_cpp_fused_argmax_11", "other kernels"),
    ("aten::index_copy_", "other kernels"),
    ("aten::empty_strided", None),
    ("## Call CompiledFxGraph None ##", None),
    ("TorchDynamo Cache Lookup", None),
])
def test_the_profile_groups_kernels_by_name(name, group):
    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    assert benchmark.kernel_group(name) == group


@pytest.mark.slow  # compiles the optimized model and the fast step
def test_benchmark_profiles_a_step_and_runs_the_books_optimized_model(
        tmp_path):
    result = run("benchmark.py", "--tiny", "--modes", "book-cache",
                 "optimized", "optimized-compiled", "--new-tokens", "6",
                 "--repeats", "1", "--batch-sizes", "--long-steps", "0",
                 "--pp", "0", "--profile", "--json", str(tmp_path / "b.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert [m["mode"] for m in report["modes"]] == [
        "book: KV cache", "book's qwen3_optimized",
        "book's qwen3_optimized compiled"]
    assert report["read_bandwidth_gb_s"] > 0
    for mode in report["modes"]:  # a tiny model reads from the caches
        assert mode["percent_of_limit"] is None or (
            0 <= mode["percent_of_limit"] <= 100)
    profile = report["profile_ms_per_token"]
    assert list(profile) == ["weight products", "attention",
                             "other kernels", "outside kernels"]
    assert all(value >= 0 for value in profile.values())
    assert profile["weight products"] > 0
    assert "Where a compiled fast-path step goes" in result.stdout
    table = run("benchmark.py", "--markdown", str(tmp_path / "b.json"))
    profile_rows = table.stdout.split("\n\n")[1].splitlines()
    assert profile_rows[0] == ("| run | weight products | attention | "
                               "other kernels | outside kernels | in all "
                               "| llama.cpp, same dtype |")
    assert profile_rows[2].startswith("| `b` | ")
    assert profile_rows[2].endswith(
        f" | {sum(profile.values()):.2f} | - |")


def test_the_books_optimized_model_gives_the_books_tokens():
    """The same weight tensors in qwen3_optimized's model: the tokens of
    the book's KV-cache loop."""
    from helpers import generate_text_basic_cache
    from helpers.tiny_model import tiny_qwen3_model

    benchmark = script_args.load_script(FOLDER / "benchmark.py")
    model = tiny_qwen3_model()
    prompt = torch.tensor([[3, 17, 5, 60, 2]])
    optimized = benchmark.optimized_mode(model, 30, compiled=False)
    assert torch.equal(optimized(prompt, 25),
                       generate_text_basic_cache(model, prompt, 25))
