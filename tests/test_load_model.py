"""``load_model`` gives the model the book's two loading lines give."""

from types import SimpleNamespace

import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Model

from helpers.files import checkpoint
from helpers.files.checkpoint import load_model
from helpers.tiny_model import SMALL_QWEN3_CONFIG, TINY_QWEN3_CONFIG

BF16_TINY = {**TINY_QWEN3_CONFIG, "dtype": torch.bfloat16}


def book_model(path, cfg):
    """Section 2.5's way: build (random numbers), then copy the file in."""
    model = Qwen3Model(cfg)
    model.load_state_dict(torch.load(path))
    return model


def assert_same_model(ours, book):
    ours_state = ours.state_dict(keep_vars=True)
    book_state = book.state_dict(keep_vars=True)
    assert ours_state.keys() == book_state.keys()
    for key, tensor in book_state.items():
        assert ours_state[key].device.type == "cpu", key
        assert ours_state[key].dtype == tensor.dtype, key
        assert ours_state[key].requires_grad == tensor.requires_grad, key
        assert torch.equal(ours_state[key], tensor), key
    # RoPE's tables are not in the file: computed as the book computes them
    for name in ("cos", "sin"):
        assert torch.equal(getattr(ours, name), getattr(book, name)), name
        assert getattr(ours, name).device.type == "cpu"
    token_ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    with torch.no_grad():
        assert torch.equal(ours(token_ids), book(token_ids))


@pytest.mark.parametrize("cfg", [TINY_QWEN3_CONFIG, BF16_TINY,
                                 SMALL_QWEN3_CONFIG],
                         ids=["float32", "bfloat16", "real-vocabulary"])
def test_the_same_model_as_the_books_loading_lines(tmp_path, cfg):
    path = tmp_path / "model.pth"
    torch.manual_seed(0)
    torch.save(Qwen3Model(cfg).state_dict(), path)
    assert_same_model(load_model(path, cfg), book_model(path, cfg))


def test_a_file_in_another_dtype_gets_the_models_dtype(tmp_path):
    # load_state_dict copies into the model's bfloat16 parameters: so here
    path = tmp_path / "float32.pth"
    torch.save(Qwen3Model(TINY_QWEN3_CONFIG).state_dict(), path)
    ours = load_model(path, BF16_TINY)
    assert ours.tok_emb.weight.dtype == torch.bfloat16
    assert_same_model(ours, book_model(path, BF16_TINY))


def test_a_missing_weight_is_refused_as_the_book_refuses_it(tmp_path):
    path = tmp_path / "partial.pth"
    state = Qwen3Model(TINY_QWEN3_CONFIG).state_dict()
    del state["final_norm.scale"]
    torch.save(state, path)
    with pytest.raises(RuntimeError, match="final_norm.scale"):
        book_model(path, TINY_QWEN3_CONFIG)
    with pytest.raises(RuntimeError, match="final_norm.scale"):
        load_model(path, TINY_QWEN3_CONFIG)


@pytest.mark.parametrize("system, mapped", [("posix", True), ("nt", False)])
def test_the_file_is_mapped_except_on_windows(tmp_path, monkeypatch, system,
                                              mapped):
    # Windows cannot replace a mapped file (a download of the real weights
    # while a notebook holds the model): there the file is read at once
    path = tmp_path / "model.pth"
    torch.save(Qwen3Model(TINY_QWEN3_CONFIG).state_dict(), path)
    book = book_model(path, TINY_QWEN3_CONFIG)
    seen = []
    real_load = torch.load

    def load(*args, **kwargs):
        seen.append(kwargs.get("mmap"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(checkpoint, "os", SimpleNamespace(name=system))
    ours = load_model(path, TINY_QWEN3_CONFIG)
    assert seen == [mapped]
    assert_same_model(ours, book)
