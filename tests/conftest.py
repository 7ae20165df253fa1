"""Shared fixtures: determinism, the tiny model, the offline tokenizer,
one full-size random-weights checkpoint."""

import os
import shutil

# Inductor trusts the CPU's flags for its vector instructions instead of
# checking each by building a test library and loading it in a new Python
# process that imports torch: about 10 s in every process that compiles
# (this one, each notebook's kernel, each command), a check of PyTorch's
# own that a reader's first compile still makes. Set before torch loads
# inductor's configuration, which reads it once
os.environ.setdefault("TORCHINDUCTOR_VEC_ISA_OK", "1")

import pytest
import torch

from helpers import download_qwen3_small
from helpers.files.offline_tokenizer import rebuild_qwen3_tokenizer
from helpers.tiny_model import tiny_qwen3_model


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_model():
    return tiny_qwen3_model()


@pytest.fixture(scope="session")
def tokenizer_path(tmp_path_factory):
    """The Qwen3 base tokenizer, rebuilt offline once per test session."""
    path = tmp_path_factory.mktemp("qwen3") / "tokenizer-base.json"
    return rebuild_qwen3_tokenizer(path)


@pytest.fixture(scope="session")
def full_size_dir(tmp_path_factory, tokenizer_path):
    """A ``qwen3/`` folder with the tokenizer and a full-size checkpoint
    written in random-weights mode (1.5 GB): once per test session, by
    ``download_qwen3_small`` as a reader's first run writes it."""
    folder = tmp_path_factory.mktemp("full-size") / "qwen3"
    folder.mkdir()
    shutil.copy(tokenizer_path, folder / "tokenizer-base.json")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("QWEN3_RANDOM_WEIGHTS", "1")
        env.setenv("HF_HUB_OFFLINE", "1")
        download_qwen3_small(kind="base", out_dir=folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # free the disk


@pytest.fixture
def avx2_only_timings(monkeypatch):
    """``helpers.dtype`` sees an AVX2-only CPU's timings (slow bfloat16
    arithmetic, but half the bytes to read); its measured choice is
    forgotten before and after."""
    from helpers import dtype as dtype_module

    seconds = {("prompts", torch.bfloat16): 0.04,
               ("prompts", torch.float32): 0.01,
               ("decoding", torch.bfloat16): 0.002,
               ("decoding", torch.float32): 0.003}
    monkeypatch.setattr(dtype_module, "_seconds",
                        lambda dtype, work: seconds[work, dtype])
    dtype_module.fastest_dtype.cache_clear()
    yield
    dtype_module.fastest_dtype.cache_clear()


@pytest.fixture(autouse=True)
def _no_random_weights_env(monkeypatch):
    # Tests set the mode themselves; never inherit it from the shell
    monkeypatch.delenv("QWEN3_RANDOM_WEIGHTS", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def eager_fast_engine(monkeypatch):
    """The fast engine as the command sets it up, with its decoding step
    run eagerly instead of compiled: compiling takes tens of seconds per
    test. ``test_cli.py``'s
    ``test_the_default_engine_compiles_and_answers_as_the_book`` compiles
    it for real."""
    from helpers import compile_support
    from helpers.fast import generator

    monkeypatch.setattr(compile_support, "torch_compile_works",
                        lambda device: True)
    monkeypatch.setattr(generator, "torch_compile_works",
                        lambda device: True)
    monkeypatch.setattr(generator.FastGenerator, "_compiled",
                        lambda self: self.decoder)
