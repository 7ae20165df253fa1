"""Random-weights mode: the book's loading code runs on the written file."""

import shutil

import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B, Qwen3Model

from helpers import download_qwen3_small
from helpers.random_weights import (
    is_random_checkpoint,
    random_state_dict,
    write_random_checkpoint,
)
from helpers.tiny_model import TINY_QWEN3_CONFIG


def test_full_size_checkpoint_loads_with_the_book_code(
    tmp_path, tokenizer_path, monkeypatch, capsys
):
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copy(tokenizer_path, tmp_path / "tokenizer-base.json")
    download_qwen3_small(kind="base", tokenizer_only=False, out_dir=tmp_path)
    assert "GIBBERISH" in capsys.readouterr().out

    # The book's code, unchanged
    model = Qwen3Model(QWEN_CONFIG_06_B)
    model.load_state_dict(torch.load(tmp_path / "qwen3-0.6B-base.pth"))

    reference = Qwen3Model(QWEN_CONFIG_06_B).state_dict()
    loaded = torch.load(tmp_path / "qwen3-0.6B-base.pth", mmap=True)
    assert loaded.keys() == reference.keys()
    for key, tensor in reference.items():
        assert loaded[key].shape == tensor.shape, key
        assert loaded[key].dtype == tensor.dtype, key
    assert is_random_checkpoint(tmp_path / "qwen3-0.6B-base.pth")
    del loaded
    (tmp_path / "qwen3-0.6B-base.pth").unlink()  # free 1.5 GB of disk


def test_random_weights_are_seeded():
    first = random_state_dict(TINY_QWEN3_CONFIG)
    second = random_state_dict(TINY_QWEN3_CONFIG)
    for key in first:
        assert torch.equal(first[key], second[key])


def test_trained_looking_weights_are_not_random(tmp_path):
    path = write_random_checkpoint(tmp_path / "w.pth", TINY_QWEN3_CONFIG)
    assert is_random_checkpoint(path)
    state = torch.load(path)
    state["final_norm.scale"] = state["final_norm.scale"] * 0.9
    torch.save(state, path)
    assert not is_random_checkpoint(path)


def test_real_weights_are_kept_in_random_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    (tmp_path / "tokenizer-base.json").write_text("{}")
    real = {"final_norm.scale": torch.full((4,), 0.5)}
    torch.save(real, tmp_path / "qwen3-0.6B-base.pth")
    before = (tmp_path / "qwen3-0.6B-base.pth").read_bytes()
    download_qwen3_small(out_dir=tmp_path)
    assert (tmp_path / "qwen3-0.6B-base.pth").read_bytes() == before
