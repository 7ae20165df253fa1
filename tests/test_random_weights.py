"""Random-weights mode: the book's loading code runs on the written file."""

import shutil

import pytest
import torch
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B, Qwen3Model

from helpers import download_qwen3_small
from helpers.files import qwen3_files
from helpers.files.checkpoint import load_model
from helpers.files.random_weights import (
    is_random_checkpoint,
    norm_scale_keys,
    random_state_dict,
    write_random_checkpoint,
)
from helpers.tiny_model import TINY_QWEN3_CONFIG, tiny_qwen3_model


@pytest.mark.slow
def test_full_size_checkpoint_loads_with_the_book_code(
    full_size_dir, monkeypatch, capsys
):
    path = full_size_dir / "qwen3-0.6B-base.pth"  # written in random mode
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    download_qwen3_small(kind="base", out_dir=full_size_dir)
    assert "GIBBERISH" in capsys.readouterr().out  # found and announced

    # The book's code, unchanged
    model = Qwen3Model(QWEN_CONFIG_06_B)
    model.load_state_dict(torch.load(path))

    with torch.device("meta"):  # keys, shapes and dtypes, no numbers
        reference = Qwen3Model(QWEN_CONFIG_06_B).state_dict()
    loaded = torch.load(path, mmap=True)
    assert loaded.keys() == reference.keys()
    for key, tensor in reference.items():
        assert loaded[key].shape == tensor.shape, key
        assert loaded[key].dtype == tensor.dtype, key
    assert is_random_checkpoint(path)

    # The command's and the bonus notebooks' loader: the same model
    ours = load_model(path, QWEN_CONFIG_06_B)
    token_ids = torch.tensor([[840, 20772, 3460, 4128, 4119, 13]])
    with torch.no_grad():
        assert torch.equal(ours(token_ids), model(token_ids))


def test_random_weights_are_seeded():
    first = random_state_dict(TINY_QWEN3_CONFIG)
    second = random_state_dict(TINY_QWEN3_CONFIG)
    for key in first:
        assert torch.equal(first[key], second[key])


@pytest.mark.parametrize(
    "key", ["final_norm.scale", "trf_blocks.1.norm2.scale",
            "trf_blocks.0.att.k_norm.scale"],
)
def test_every_rmsnorm_scale_must_be_one(tmp_path, key):
    path = write_random_checkpoint(tmp_path / "w.pth", TINY_QWEN3_CONFIG)
    assert is_random_checkpoint(path)
    state = torch.load(path)
    state[key] = state[key] * 0.9  # one trained-looking norm is enough
    torch.save(state, path)
    assert not is_random_checkpoint(path)


def test_norm_scale_keys_are_all_the_rmsnorms():
    state = random_state_dict(TINY_QWEN3_CONFIG)
    keys = norm_scale_keys(state)
    n_layers = TINY_QWEN3_CONFIG["n_layers"]
    assert len(keys) == 4 * n_layers + 1  # 2 block norms, q/k norms, final
    assert "final_norm.scale" in keys


def test_random_weights_leave_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    random_state_dict(TINY_QWEN3_CONFIG)
    tiny_qwen3_model()
    assert torch.equal(torch.rand(3), expected)


def test_trained_weights_are_kept_in_random_mode(tmp_path, monkeypatch,
                                                 tokenizer_path, capsys):
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    shutil.copy(tokenizer_path, tmp_path / "tokenizer-base.json")
    state = random_state_dict(TINY_QWEN3_CONFIG)
    state["trf_blocks.0.norm1.scale"] *= 0.5  # trained-looking
    torch.save(state, tmp_path / "qwen3-0.6B-base.pth")
    before = (tmp_path / "qwen3-0.6B-base.pth").read_bytes()
    qwen3_files(out_dir=tmp_path, cfg=TINY_QWEN3_CONFIG)
    assert (tmp_path / "qwen3-0.6B-base.pth").read_bytes() == before
    assert "keeping them" in capsys.readouterr().out
