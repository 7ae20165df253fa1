"""get_device (Listing 2.1) and generate_stats (Listing 2.3)."""

import pytest
import torch

from helpers import generate_stats, get_device


class FakeTokenizer:
    def decode(self, ids):
        return "|".join(map(str, ids))


def test_cpu_is_the_fallback(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.xpu, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    assert capsys.readouterr().out == "Using CPU\n"


class FlagRecorder:
    """Stands in for torch.backends.cuda / cudnn and records what is set."""

    def __init__(self, record, prefix):
        object.__setattr__(self, "_record", record)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name):
        return FlagRecorder(self._record, f"{self._prefix}.{name}")

    def __setattr__(self, name, value):
        self._record[f"{self._prefix}.{name}"] = value


@pytest.fixture
def fake_cuda(monkeypatch):
    record = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.backends, "cuda", FlagRecorder(record, "cuda")
    )
    monkeypatch.setattr(
        torch.backends, "cudnn", FlagRecorder(record, "cudnn")
    )
    return record


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((2, 10), {"cuda.matmul.allow_tf32": True,
                   "cudnn.allow_tf32": True}),
        ((2, 11), {"cuda.matmul.fp32_precision": "tf32",
                   "cudnn.conv.fp32_precision": "tf32"}),
    ],
)
def test_tf32_switch_matches_the_torch_version(
    monkeypatch, fake_cuda, version, expected
):
    monkeypatch.setattr(torch, "__version__", f"{version[0]}.{version[1]}.0")
    assert get_device() == torch.device("cuda")
    assert fake_cuda == expected


def test_tensor_cores_off_sets_nothing(fake_cuda):
    get_device(enable_tensor_cores=False)
    assert fake_cuda == {}


def test_generate_stats_prints_time_speed_and_text(capsys):
    out = torch.tensor([[1, 2, 3, 4]])
    generate_stats(out, FakeTokenizer(), 10.0, 12.0)
    printed = capsys.readouterr().out
    assert "Time: 2.00 sec" in printed
    assert "2 tokens/sec" in printed
    assert "1|2|3|4" in printed


def test_generate_stats_batch_and_no_tokens(capsys):
    out = torch.tensor([[1, 2], [3, 4]])
    generate_stats(out, FakeTokenizer(), 0.0, 1.0, print_tokens=False)
    printed = capsys.readouterr().out
    assert "4 tokens/sec" in printed
    assert "1|2" not in printed


def test_generate_stats_reports_and_resets_gpu_memory(monkeypatch,
                                                     capsys):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated",
                        lambda: int(1.55 * 1024**3))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda: calls.append("reset"))
    monkeypatch.setattr(torch.xpu, "is_available", lambda: False)
    generate_stats(torch.tensor([[1, 2]]), FakeTokenizer(), 0.0, 1.0)
    assert "Max CUDA memory allocated: 1.55 GB" in capsys.readouterr().out
    assert calls == ["reset"]
