"""download_qwen3_small against a real HTTP server on 127.0.0.1."""

import hashlib

import pytest
import torch

import helpers.download as download
from helpers import download_qwen3_small
from helpers.download import (
    DownloadError,
    WeightsNotAvailableError,
    download_file,
)
from helpers.offline_tokenizer import QWEN3_TOKENIZER_SHA256
from helpers.random_weights import write_random_checkpoint
from helpers.tiny_model import TINY_QWEN3_CONFIG
from http_server import FakeFileServer

WEIGHTS = "qwen3-0.6B-base.pth"
TOKENIZER = "tokenizer-base.json"


@pytest.fixture
def server(monkeypatch):
    with FakeFileServer() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        monkeypatch.setattr(download, "BACKUP_ROOT", srv.url + "/backup")
        monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 1.0)
        yield srv


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_downloads_complete_files(server, tmp_path):
    server.add(TOKENIZER, b'{"tokenizer": 1}')
    server.add(WEIGHTS, b"w" * 3_000_000)
    paths = download_qwen3_small(out_dir=tmp_path)
    assert paths["model"].read_bytes() == b"w" * 3_000_000
    assert paths["tokenizer"].read_bytes() == b'{"tokenizer": 1}'
    assert files_in(tmp_path) == [WEIGHTS, TOKENIZER]


def test_present_files_need_no_request(server, tmp_path):
    (tmp_path / TOKENIZER).write_text("{}")
    # A checkpoint whose norm scales are not all 1.0, like trained weights
    state = {"final_norm.scale": torch.full((4,), 0.5)}
    torch.save(state, tmp_path / WEIGHTS)
    download_qwen3_small(out_dir=tmp_path)
    assert server.requests == []


def test_falls_back_to_backup_url(server, tmp_path, monkeypatch, capsys):
    # A Hub endpoint that answers 404 for everything
    monkeypatch.setenv("HF_ENDPOINT", server.url + "/hub-down")
    server.add(TOKENIZER, b"{}")
    server.add(WEIGHTS, b"from-backup")
    paths = download_qwen3_small(out_dir=tmp_path)
    assert paths["model"].read_bytes() == b"from-backup"
    assert ("GET", f"/backup/{WEIGHTS}") in server.requests
    assert "hub-down" in capsys.readouterr().out


def test_404_raises_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_file(f"{server.url}/backup/nothing.bin", tmp_path / "x")
    assert files_in(tmp_path) == []


def test_truncated_response_leaves_no_complete_looking_file(
    server, tmp_path
):
    server.add(WEIGHTS, b"w" * 100_000, behaviour="truncate")
    with pytest.raises(DownloadError, match="50000 of 100000"):
        download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert not (tmp_path / WEIGHTS).exists()
    # Only a hidden part file remains, kept for resuming
    assert files_in(tmp_path) == [f".{WEIGHTS}.part"]


def test_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    body = bytes(range(256)) * 400
    server.add(WEIGHTS, body, behaviour="truncate-once")
    url = f"{server.url}/backup/{WEIGHTS}"
    with pytest.raises(DownloadError, match="run again to resume"):
        download_file(url, tmp_path / WEIGHTS)
    download_file(url, tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == body
    assert server.ranges == [None, f"bytes={len(body) // 2}-"]
    assert files_in(tmp_path) == [WEIGHTS]


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    body = b"0123456789" * 1000
    (tmp_path / f".{WEIGHTS}.part").write_bytes(b"stale bytes")
    server.add(WEIGHTS, body, behaviour="no-range")
    download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == body
    assert files_in(tmp_path) == [WEIGHTS]


def test_silent_server_is_bounded_by_the_timeout(server, tmp_path):
    server.add(WEIGHTS, behaviour="hang")
    with pytest.raises(DownloadError, match="timed out"):
        download_file(
            f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS,
            timeout=0.5,
        )
    assert files_in(tmp_path) == []


def test_weights_unavailable_error_says_what_to_do(server, tmp_path):
    server.add(TOKENIZER, b"{}")
    server.add(WEIGHTS, behaviour="missing")
    with pytest.raises(WeightsNotAvailableError) as info:
        download_qwen3_small(out_dir=tmp_path)
    message = str(info.value)
    for hint in ("404", "HTTPS_PROXY", "HF_ENDPOINT", "QWEN3_RANDOM_WEIGHTS",
                 f"{server.url}/backup/{WEIGHTS}", str(tmp_path.resolve())):
        assert hint in message
    assert files_in(tmp_path) == [TOKENIZER]


def test_tokenizer_is_rebuilt_offline_when_not_downloadable(
    server, tmp_path, capsys
):
    server.add(TOKENIZER, behaviour="missing")
    paths = download_qwen3_small(tokenizer_only=True, out_dir=tmp_path)
    digest = hashlib.sha256(paths["tokenizer"].read_bytes()).hexdigest()
    assert digest == QWEN3_TOKENIZER_SHA256
    assert "rebuilt offline" in capsys.readouterr().out
    assert files_in(tmp_path) == [TOKENIZER]


def test_offline_switch_makes_no_request(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    download_qwen3_small(tokenizer_only=True, out_dir=tmp_path)
    assert server.requests == []
    assert files_in(tmp_path) == [TOKENIZER]


def test_random_checkpoint_is_replaced_by_a_real_download(
    server, tmp_path, capsys
):
    (tmp_path / TOKENIZER).write_text("{}")
    write_random_checkpoint(tmp_path / WEIGHTS, cfg=TINY_QWEN3_CONFIG)
    server.add(WEIGHTS, b"real weights")
    download_qwen3_small(out_dir=tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == b"real weights"
    assert "RANDOM weights" in capsys.readouterr().out


def test_random_checkpoint_is_not_accepted_when_download_fails(
    server, tmp_path
):
    (tmp_path / TOKENIZER).write_text("{}")
    write_random_checkpoint(tmp_path / WEIGHTS, cfg=TINY_QWEN3_CONFIG)
    with pytest.raises(WeightsNotAvailableError):
        download_qwen3_small(out_dir=tmp_path)


def test_unreadable_checkpoint_gets_a_clear_error(server, tmp_path):
    (tmp_path / TOKENIZER).write_text("{}")
    (tmp_path / WEIGHTS).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Delete it"):
        download_qwen3_small(out_dir=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "chat"}, ValueError, "'base' or 'reasoning'"),
        ({"tokenizer_only": "yes"}, TypeError, "True or False"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        download_qwen3_small(out_dir=tmp_path, **kwargs)


def test_reasoning_kind_uses_the_book_file_names(server, tmp_path):
    server.add("tokenizer-reasoning.json", b"{}")
    server.add("qwen3-0.6B-reasoning.pth", b"r")
    paths = download_qwen3_small(kind="reasoning", out_dir=tmp_path)
    assert paths["model"].name == "qwen3-0.6B-reasoning.pth"
    assert paths["tokenizer"].name == "tokenizer-reasoning.json"
