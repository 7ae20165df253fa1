"""The dtype choice: bfloat16 where the device computes it natively,
float32 where that is faster; checked against a CPU limited to AVX2."""

import os
import platform
import subprocess
import sys

import pytest
import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from helpers import dtype as dtype_module
from helpers import generate_text_basic_cache
from helpers.cpu_kind import cpu_kind, cpu_name, cpu_vendor
from helpers.dtype import (
    check_dtype,
    check_fits,
    choose_dtype,
    model_bytes,
    to_dtype,
)
from helpers.files.random_weights import seeded_model
from helpers.tiny_model import TINY_QWEN3_CONFIG

# ATen's and oneDNN's kernels limited to AVX2: how bfloat16 behaves on a
# CPU without bfloat16 instructions (most x86 laptops)
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
CHOOSE = ("import torch; from helpers.dtype import choose_dtype; "
          "from helpers.cpu_kind import cpu_kind; "
          "print(torch.backends.cpu.get_cpu_capability()); "
          "print(choose_dtype('cpu')); print(cpu_kind())")
x86 = pytest.mark.skipif(platform.machine().lower() not in
                         {"x86_64", "amd64"}, reason="an x86 CPU")


@pytest.fixture
def timings(monkeypatch):
    """Pretend a CPU's bfloat16 and float32 matrix products take these
    seconds; the measured choice is forgotten before and after."""
    def set_seconds(bf16, fp32):
        seconds = {torch.bfloat16: bf16, torch.float32: fp32}
        monkeypatch.setattr(dtype_module, "_seconds",
                            lambda dtype, work: seconds[dtype])
        dtype_module.fastest_dtype.cache_clear()

    yield set_seconds
    dtype_module.fastest_dtype.cache_clear()


def test_slow_bfloat16_means_float32_and_says_why(timings, capsys):
    timings(bf16=0.040, fp32=0.010)
    assert choose_dtype("cpu") == torch.float32
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0  # one line
    assert out.startswith("The model runs in float32 instead of the "
                          "book's bfloat16 (3.0 GB instead of 1.5 GB)")
    assert ("reading prompts (and the loop without a KV cache) runs 4.0x "
            "faster in float32" in out)


def test_native_bfloat16_stays(timings, capsys):
    timings(bf16=0.010, fp32=0.030)
    assert choose_dtype("cpu") == torch.bfloat16
    out = capsys.readouterr().out
    assert "bfloat16 (1.5 GB)" in out and "3.0x faster in bfloat16" in out


def test_float32_that_does_not_fit_stays_bfloat16(timings, capsys,
                                                  monkeypatch):
    timings(bf16=0.040, fp32=0.010)
    monkeypatch.setattr(dtype_module, "free_memory_bytes",
                        lambda device: 2 * 10**9)
    assert choose_dtype("cpu") == torch.bfloat16
    out = capsys.readouterr().out
    assert "float32 would be faster, but the model needs 3.0 GB" in out
    assert "only 2.0 GB is free" in out


def test_the_choice_is_measured_once(monkeypatch):
    calls = []
    monkeypatch.setattr(dtype_module, "_seconds",
                        lambda dtype, work: calls.append(work) or 1.0)
    dtype_module.fastest_dtype.cache_clear()
    try:
        for _ in range(3):
            choose_dtype("cpu", verbose=False)
            choose_dtype("cpu", work="decoding", verbose=False)
    finally:
        dtype_module.fastest_dtype.cache_clear()
    # one product in each dtype, per kind of work
    assert calls == ["prompts", "prompts", "decoding", "decoding"]


def test_the_work_decides_which_product_is_timed(avx2_only_timings,
                                                 capsys):
    assert choose_dtype("cpu") == torch.float32
    assert choose_dtype("cpu", work="decoding") == torch.bfloat16
    assert "decoding with a KV cache (one row per step) runs 1.5x faster " \
           "in bfloat16" in capsys.readouterr().out
    with pytest.raises(ValueError, match="work must be one of prompts, "
                       "decoding, got 'training'"):
        choose_dtype("cpu", work="training")


@pytest.mark.parametrize("cache_mib", [0, 32, 300])
def test_decoding_is_timed_on_weights_no_cache_holds(cache_mib,
                                                     monkeypatch):
    monkeypatch.setattr(dtype_module, "last_level_cache_bytes",
                        lambda: cache_mib * 2**20)
    shapes, real_full = [], torch.full

    def full(shape, value, dtype):  # the shape, then a small tensor
        shapes.append(shape)
        return real_full((1, 8), value, dtype=dtype)

    monkeypatch.setattr(dtype_module.torch, "full", full)
    dtype_module._seconds(torch.bfloat16, "decoding", repeats=1)
    (rows, n_in), (n_out, _) = shapes
    assert rows == 1
    assert 2 * n_in * n_out >= max(64, 2 * cache_mib) * 2**20  # bfloat16


@pytest.mark.parametrize("cfg", [QWEN_CONFIG_06_B, TINY_QWEN3_CONFIG])
def test_model_bytes_counts_every_weight(cfg):
    with torch.device("meta"):
        model = seeded_model(cfg, 0)
    n_params = sum(t.numel() for t in model.state_dict().values())
    assert model_bytes(cfg, torch.bfloat16) == 2 * n_params
    assert model_bytes(cfg, torch.float32) == 4 * n_params


def test_to_dtype_converts_the_model_and_leaves_the_config():
    bf16_cfg = {**TINY_QWEN3_CONFIG, "dtype": torch.bfloat16}
    model = seeded_model(bf16_cfg, 1).eval()
    state = {k: v.float() for k, v in model.state_dict().items()}
    assert to_dtype(model, torch.float32) is model
    assert bf16_cfg["dtype"] == torch.bfloat16  # the caller's dict
    assert QWEN_CONFIG_06_B["dtype"] == torch.bfloat16
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    # The same tokens as a model built in float32 from the same weights
    reference = seeded_model(TINY_QWEN3_CONFIG, 2).eval()
    reference.load_state_dict(state)
    prompt = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(generate_text_basic_cache(model, prompt, 12),
                       generate_text_basic_cache(reference, prompt, 12))


def test_to_dtype_and_back_is_the_book_model_again():
    model = seeded_model({**TINY_QWEN3_CONFIG, "dtype": torch.bfloat16}, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    to_dtype(to_dtype(model, torch.float32), torch.bfloat16)
    after = model.state_dict()
    for key, tensor in before.items():  # dtypes too: norms stay float32
        assert after[key].dtype == tensor.dtype, key
        assert torch.equal(after[key], tensor), key
    assert model.cos.dtype == torch.float32


def test_check_fits_names_the_sizes_and_the_way_out(monkeypatch):
    monkeypatch.setattr(dtype_module, "free_memory_bytes",
                        lambda device: 10**9)
    with pytest.raises(MemoryError, match=r"needs 3\.0 GB in float32, but "
                       r"only 1\.0 GB is free on cpu; use bfloat16"):
        check_fits(QWEN_CONFIG_06_B, torch.float32, "cpu")
    check_fits(TINY_QWEN3_CONFIG, torch.float32, "cpu")  # it fits


def test_check_dtype_refuses_what_the_device_cannot_run():
    with pytest.raises(ValueError, match="use one of bfloat16, float32"):
        check_dtype("cpu", torch.float16)
    check_dtype("cpu", torch.bfloat16)  # emulated, but it runs
    check_dtype("cpu", torch.float32)


def run_choice(extra_env):
    env = {**os.environ, **extra_env}
    result = subprocess.run([sys.executable, "-c", CHOOSE], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@x86
def test_a_cpu_without_bfloat16_instructions_gets_float32():
    capability, message, chosen, kind = run_choice(AVX2_ONLY)
    assert capability == "AVX2"
    assert kind == "x86, AVX2 only (limited by ATEN_CPU_CAPABILITY)"
    assert chosen == "torch.float32"
    assert "faster in float32 than in bfloat16" in message


@pytest.mark.skipif(not torch._C._cpu._is_amx_tile_supported(),
                    reason="a CPU with AMX")
def test_a_cpu_with_amx_keeps_bfloat16():
    _, message, chosen, kind = run_choice({})
    assert kind == "x86, AMX"
    assert chosen == "torch.bfloat16", message


def test_cpu_kind_names_the_machine():
    kind = cpu_kind()
    if platform.machine().lower() in {"x86_64", "amd64"}:
        assert kind.startswith("x86, ")  # AVX2 only: in the test above
    else:
        assert kind == platform.machine().lower()


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: {family}
model\t\t: 2
model name\t: {name}

processor\t: 1
model name\t: another CPU
"""


@pytest.mark.parametrize(("name", "family", "expected"), [
    # Cloud machines hide the model number: the family tells Zen 4 (25)
    # from Zen 5 (26)
    ("AMD EPYC", 26, "AMD EPYC (family 26, model 2)"),
    ("AMD EPYC", 25, "AMD EPYC (family 25, model 2)"),
    ("AMD EPYC 9654 96-Core Processor", 25,
     "AMD EPYC 9654 96-Core Processor"),
])
def test_cpu_name_tells_generations_apart(tmp_path, name, family,
                                          expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(name=name, family=family))
    assert cpu_name(cpuinfo) == expected
    assert cpu_name(tmp_path / "missing") == (platform.processor()
                                             or platform.machine())


def test_cpu_vendor_from_cpuinfo_or_the_platform(tmp_path, monkeypatch):
    """Linux names the vendor in /proc/cpuinfo, Windows in
    ``platform.processor()``; elsewhere there is none."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(name="AMD EPYC", family=25))
    assert cpu_vendor(cpuinfo) == "AuthenticAMD"
    for processor, vendor in (
            ("Intel64 Family 6 Model 183 Stepping 1, GenuineIntel",
             "GenuineIntel"), ("arm", "")):
        monkeypatch.setattr(platform, "processor", lambda p=processor: p)
        assert cpu_vendor(tmp_path / "missing") == vendor
