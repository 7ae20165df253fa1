"""get_device and generate_stats."""

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


def test_get_device_rejects_non_bool():
    with pytest.raises(TypeError, match="True or False"):
        get_device(enable_tensor_cores="yes")


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


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (([[1]], 0.0, 1.0), TypeError, "tensor"),
        ((torch.tensor([[1]]), 2.0, 1.0), ValueError, "later than"),
        ((torch.tensor([[1]]), 1.0, 1.0), ValueError, "later than"),
    ],
)
def test_generate_stats_bad_input(args, error, message):
    ids, start, end = args
    with pytest.raises(error, match=message):
        generate_stats(ids, FakeTokenizer(), start, end)
