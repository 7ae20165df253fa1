"""download_qwen3_small against a real HTTP server on 127.0.0.1."""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import urllib.error

import pytest
import torch

import helpers.files.checkpoint as checkpoint
import helpers.files.download as download
from helpers import download_qwen3_small
from helpers.files.download import (
    DownloadError,
    InvalidFileError,
    WeightsNotAvailableError,
    download_file,
    qwen3_files,
)
from helpers.files.offline_tokenizer import QWEN3_TOKENIZER_SHA256
from helpers.files.random_weights import seeded_model, write_random_checkpoint
from helpers.tiny_model import TINY_QWEN3_CONFIG
from http_server import FakeFileServer, etag

WEIGHTS = "qwen3-0.6B-base.pth"
TOKENIZER = "tokenizer-base.json"
HTML = b"<!DOCTYPE html><html><body>Please log in to the Wi-Fi</body></html>"


@pytest.fixture
def server(monkeypatch):
    with FakeFileServer() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        monkeypatch.setattr(download, "BACKUP_ROOT", srv.url + "/backup")
        monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 1.0)
        monkeypatch.setattr(download, "RETRY_PAUSE", 0.0)
        # Downloaded weights must fit the tiny model, not the 0.6B one
        monkeypatch.setattr(checkpoint, "EXPECTED_CONFIG",
                            TINY_QWEN3_CONFIG)
        yield srv


@pytest.fixture(scope="module")
def tokenizer_bytes(tokenizer_path):
    return tokenizer_path.read_bytes()


def checkpoint_bytes(trained=True, change=None):
    """A tiny Qwen3 checkpoint; `trained` gives its norms scales other
    than 1.0, as trained weights have."""
    state = seeded_model(TINY_QWEN3_CONFIG, seed=1).state_dict()
    if trained:
        for key in state:
            if key.endswith("norm.scale") or ".norm" in key:
                state[key] = state[key] * 0.5
    if change:
        change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def files_in(folder):
    """The files in ``folder``, but not the lock files (empty, and left in
    place after use, as huggingface_hub leaves its own)."""
    return sorted(p.name for p in folder.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


def serve_both(server, tokenizer_bytes):
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, checkpoint_bytes())


def test_first_run_into_new_nested_folders(server, tokenizer_bytes,
                                           tmp_path):
    serve_both(server, tokenizer_bytes)
    out_dir = tmp_path / "course" / "ch02" / "qwen3"
    assert download_qwen3_small(out_dir=out_dir) is None  # as the book's
    assert (out_dir / TOKENIZER).read_bytes() == tokenizer_bytes
    assert (out_dir / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert files_in(tmp_path) == [WEIGHTS, TOKENIZER]


def test_present_files_need_no_request(server, tokenizer_bytes, tmp_path):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    (tmp_path / WEIGHTS).write_bytes(checkpoint_bytes())
    paths = qwen3_files(out_dir=tmp_path)
    assert server.requests == []
    assert paths == {"tokenizer": tmp_path / TOKENIZER,
                     "model": tmp_path / WEIGHTS}


def test_falls_back_to_backup_url(server, tokenizer_bytes, tmp_path,
                                  monkeypatch, capsys):
    # A Hub endpoint that answers 404 for everything
    monkeypatch.setenv("HF_ENDPOINT", server.url + "/hub-down")
    serve_both(server, tokenizer_bytes)
    download_qwen3_small(out_dir=tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert ("GET", f"/backup/{WEIGHTS}") in server.requests
    assert "HTTP 404" in capsys.readouterr().out


def test_404_raises_at_once_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download_file(f"{server.url}/backup/nothing.bin", tmp_path / "x")
    assert "run again" not in str(info.value)  # it would not help
    assert len(server.requests) == 1  # no retries for a missing file
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("errno, attempts", [
    (socket.EAI_NONAME, 1),  # offline: the name will not resolve later
    (socket.EAI_AGAIN, 1 + download.RETRIES),  # a resolver hiccup
])
def test_unknown_host_name_fails_without_waiting(tmp_path, monkeypatch,
                                                errno, attempts):
    calls = []

    def no_such_name(request, timeout):
        calls.append(request.full_url)
        raise urllib.error.URLError(socket.gaierror(errno, "no name"))

    monkeypatch.setattr(download.urllib.request, "urlopen", no_such_name)
    monkeypatch.setattr(download, "RETRY_PAUSE", 0.0)
    with pytest.raises(DownloadError, match="no name"):
        download_file("https://hub.invalid/x.bin", tmp_path / "x.bin")
    assert len(calls) == attempts
    assert files_in(tmp_path) == []


def test_busy_server_is_tried_again(server, tmp_path, capsys):
    server.add(WEIGHTS, b"w" * 1000, behaviour="busy-once")
    download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == b"w" * 1000
    assert "HTTP 503" in capsys.readouterr().out
    assert len(server.requests) == 2


def test_interrupted_download_resumes_with_if_range(server, tmp_path):
    body = bytes(range(256)) * 400
    server.add(WEIGHTS, body, behaviour="truncate-once")
    download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == body
    # The second attempt asked only for the missing half, and only if
    # the file is still the one begun
    assert server.ranges == [None, f"bytes={len(body) // 2}-"]
    assert server.if_ranges == [None, etag(body)]
    assert files_in(tmp_path) == [WEIGHTS]


def test_connection_that_keeps_breaking_keeps_the_part_file(server,
                                                            tmp_path):
    body = b"w" * 100_000
    server.add(WEIGHTS, body, behaviour="truncate")
    with pytest.raises(DownloadError,
                       match="run again to resume from byte") as info:
        download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert f"tried {download.RETRIES + 1} times" in str(info.value)
    assert not (tmp_path / WEIGHTS).exists()
    # A hidden part file and its notes stay, for the next call
    assert files_in(tmp_path) == [f".{WEIGHTS}.part", f".{WEIGHTS}.part.json"]
    server.add(WEIGHTS, body)  # the connection is fine again
    download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == body
    assert files_in(tmp_path) == [WEIGHTS]


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    body = b"0123456789" * 1000
    url = f"{server.url}/backup/{WEIGHTS}"
    (tmp_path / f".{WEIGHTS}.part").write_bytes(b"stale bytes")
    (tmp_path / f".{WEIGHTS}.part.json").write_text(json.dumps({"url": url}))
    server.add(WEIGHTS, body, behaviour="no-range")
    download_file(url, tmp_path / WEIGHTS)
    assert server.ranges == ["bytes=11-"]
    assert (tmp_path / WEIGHTS).read_bytes() == body
    assert files_in(tmp_path) == [WEIGHTS]


def test_wrong_content_range_is_not_spliced(server, tmp_path, capsys):
    body = bytes(range(256)) * 100
    url = f"{server.url}/backup/{WEIGHTS}"
    (tmp_path / f".{WEIGHTS}.part").write_bytes(body[:1000])
    (tmp_path / f".{WEIGHTS}.part.json").write_text(
        json.dumps({"url": url, "total": len(body)})
    )
    server.add(WEIGHTS, body, behaviour="bad-range")
    download_file(url, tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == body
    assert server.ranges == ["bytes=1000-", None]  # then from the start
    assert "starting over" in capsys.readouterr().out


def test_part_file_from_another_url_is_not_resumed(server, tmp_path):
    body = b"abc" * 1000
    (tmp_path / f".{WEIGHTS}.part").write_bytes(b"x" * 500)
    (tmp_path / f".{WEIGHTS}.part.json").write_text(
        json.dumps({"url": "https://elsewhere.example/" + WEIGHTS})
    )
    server.add(WEIGHTS, body)
    download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert server.ranges == [None]
    assert (tmp_path / WEIGHTS).read_bytes() == body


def test_changed_file_on_the_server_restarts(server, tmp_path):
    old, new = b"old!" * 1000, b"new!" * 1200
    url = f"{server.url}/backup/{WEIGHTS}"
    (tmp_path / f".{WEIGHTS}.part").write_bytes(old[:2000])
    (tmp_path / f".{WEIGHTS}.part.json").write_text(json.dumps(
        {"url": url, "total": len(old), "etag": etag(old)}
    ))
    server.add(WEIGHTS, new)
    download_file(url, tmp_path / WEIGHTS)
    assert server.if_ranges == [etag(old)]  # not the current file: 200
    assert (tmp_path / WEIGHTS).read_bytes() == new


@pytest.mark.parametrize("noted_total", [True, False])
def test_416_with_a_complete_part_file_finishes_it(server, tmp_path,
                                                   noted_total):
    body = b"complete" * 500
    url = f"{server.url}/backup/{WEIGHTS}"
    (tmp_path / f".{WEIGHTS}.part").write_bytes(body)
    state = {"url": url, "total": len(body)} if noted_total else {"url": url}
    (tmp_path / f".{WEIGHTS}.part.json").write_text(json.dumps(state))
    server.add(WEIGHTS, body)
    download_file(url, tmp_path / WEIGHTS)
    assert (tmp_path / WEIGHTS).read_bytes() == body
    # With the size noted, no request at all; else the server's 416
    # says the part file already holds every byte
    assert server.ranges == ([] if noted_total else [f"bytes={len(body)}-"])


def test_html_page_is_never_taken_for_the_tokenizer(server, tmp_path,
                                                    capsys):
    server.add(TOKENIZER, HTML)
    download_qwen3_small(tokenizer_only=True, out_dir=tmp_path)
    digest = hashlib.sha256((tmp_path / TOKENIZER).read_bytes()).hexdigest()
    assert digest == QWEN3_TOKENIZER_SHA256  # rebuilt offline instead
    out = capsys.readouterr().out
    assert "HTML page" in out and "rebuilt offline" in out
    assert files_in(tmp_path) == [TOKENIZER]


def test_html_file_already_there_is_reported_and_kept(server, tmp_path):
    (tmp_path / TOKENIZER).write_bytes(HTML)
    with pytest.raises(InvalidFileError, match="HTML page") as info:
        download_qwen3_small(tokenizer_only=True, out_dir=tmp_path)
    assert "Delete the file and run again" in str(info.value)
    assert (tmp_path / TOKENIZER).read_bytes() == HTML  # not lost
    assert server.requests == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (checkpoint_bytes()[:5000], "PyTorch cannot load it"),
        (checkpoint_bytes(change=lambda s: s.pop("final_norm.scale")),
         "1 keys missing"),
        (checkpoint_bytes(change=lambda s: s.__setitem__(
            "tok_emb.weight", torch.zeros(3, 3))), "has shape"),
        (checkpoint_bytes(change=lambda s: s["out_head.weight"].__setitem__(
            (0, 0), float("nan"))), "NaN"),
    ],
    ids=["truncated", "missing-key", "wrong-shape", "nan"],
)
def test_bad_weights_never_become_the_file(server, tokenizer_bytes,
                                           tmp_path, body, message):
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, body)
    with pytest.raises(WeightsNotAvailableError, match=message):
        download_qwen3_small(out_dir=tmp_path)
    assert files_in(tmp_path) == [TOKENIZER]


def test_silent_server_is_bounded_by_the_timeout(server, tmp_path):
    server.add(WEIGHTS, behaviour="hang")
    with pytest.raises(DownloadError, match="timed out"):
        download_file(
            f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS,
            timeout=0.3,
        )
    assert files_in(tmp_path) == []


def test_weights_unavailable_error_says_what_to_do(server, tokenizer_bytes,
                                                   tmp_path):
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, behaviour="missing")
    with pytest.raises(WeightsNotAvailableError) as info:
        download_qwen3_small(out_dir=tmp_path)
    message = str(info.value)
    for hint in ("404", "HTTPS_PROXY", "HF_ENDPOINT", "QWEN3_RANDOM_WEIGHTS",
                 f"{server.url}/backup/{WEIGHTS}", str(tmp_path.resolve())):
        assert hint in message
    assert files_in(tmp_path) == [TOKENIZER]


@pytest.mark.parametrize("value", ["1", "true", "True", "ON", "yes"])
def test_offline_switch_is_read_as_huggingface_reads_it(server, tmp_path,
                                                        monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    download_qwen3_small(tokenizer_only=True, out_dir=tmp_path)
    assert server.requests == []
    assert files_in(tmp_path) == [TOKENIZER]


def test_offline_weights_error_says_to_unset_the_switch(server, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError,
                       match="Unset HF_HUB_OFFLINE") as info:
        download_qwen3_small(out_dir=tmp_path)
    assert "internet connection" not in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_offline_switch_off_downloads(server, tokenizer_bytes, tmp_path,
                                      monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    server.add(TOKENIZER, tokenizer_bytes)
    download_qwen3_small(tokenizer_only=True, out_dir=tmp_path)
    assert len(server.requests) == 1


def test_random_checkpoint_is_replaced_by_a_real_download(
    server, tokenizer_bytes, tmp_path, capsys
):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    write_random_checkpoint(tmp_path / WEIGHTS, cfg=TINY_QWEN3_CONFIG)
    server.add(WEIGHTS, checkpoint_bytes())
    download_qwen3_small(out_dir=tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert "RANDOM weights" in capsys.readouterr().out


def test_random_checkpoint_is_not_accepted_when_download_fails(
    server, tokenizer_bytes, tmp_path
):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    write_random_checkpoint(tmp_path / WEIGHTS, cfg=TINY_QWEN3_CONFIG)
    with pytest.raises(WeightsNotAvailableError):
        download_qwen3_small(out_dir=tmp_path)


def test_unreadable_checkpoint_on_disk_is_reported_and_kept(
    server, tokenizer_bytes, tmp_path
):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    (tmp_path / WEIGHTS).write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidFileError, match="Delete the file"):
        download_qwen3_small(out_dir=tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == b"not a checkpoint"
    assert server.requests == []


def test_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(DownloadError, match="cannot create the folder"):
        download_qwen3_small(out_dir=tmp_path / "taken" / "qwen3")


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


def test_reasoning_kind_uses_the_book_file_names(server, tokenizer_bytes,
                                                 tmp_path):
    server.add("tokenizer-reasoning.json", tokenizer_bytes)
    server.add("qwen3-0.6B-reasoning.pth", checkpoint_bytes())
    paths = qwen3_files(kind="reasoning", out_dir=tmp_path)
    assert paths["model"].name == "qwen3-0.6B-reasoning.pth"
    assert paths["tokenizer"].name == "tokenizer-reasoning.json"


@pytest.mark.parametrize(
    ("out_dir", "error", "message"),
    [
        ("", ValueError, "out_dir is empty: name a folder"),
        ("  ", ValueError, "out_dir is empty"),
        (None, TypeError, "out_dir must be a folder name or a Path"),
    ],
)
def test_out_dir_must_name_a_folder(out_dir, error, message, tmp_path,
                                    monkeypatch):
    # Before, out_dir="" wrote into the current folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        download_qwen3_small(out_dir=out_dir, tokenizer_only=True)
    assert files_in(tmp_path) == []


def test_malformed_hf_endpoint_is_one_clear_error(server, tmp_path,
                                                  monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "not a url")
    with pytest.raises(DownloadError, match="HF_ENDPOINT='not a url' is "
                       "not a web address"):
        download_qwen3_small(out_dir=tmp_path, tokenizer_only=True)
    assert server.requests == [] and files_in(tmp_path) == []


def test_folder_in_place_of_the_tokenizer_is_refused(tmp_path):
    (tmp_path / TOKENIZER).mkdir()
    with pytest.raises(InvalidFileError, match="is a folder, where the "
                       f"file {TOKENIZER} should be"):
        download_qwen3_small(out_dir=tmp_path, tokenizer_only=True)


@pytest.mark.parametrize("link", [f".{WEIGHTS}.part", f".{WEIGHTS}.part.json"])
def test_part_files_that_are_links_are_never_written_through(
        server, tmp_path, link, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / link).symlink_to(target)
    server.add(WEIGHTS, b"w" * 1000)
    download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert target.read_text() == "keep me"
    assert (tmp_path / WEIGHTS).read_bytes() == b"w" * 1000
    assert "is a symbolic link: removed it" in capsys.readouterr().out


def test_random_weights_never_replace_a_file_that_appeared(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint, "EXPECTED_CONFIG", TINY_QWEN3_CONFIG)
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / WEIGHTS
    real = write_random_checkpoint

    def finished_meanwhile(target, cfg, replace=True):
        target.write_bytes(checkpoint_bytes())  # a real download lands
        return real(target, cfg, replace=replace)

    monkeypatch.setattr(download, "write_random_checkpoint",
                        finished_meanwhile)
    qwen3_files(out_dir=tmp_path)  # the tokenizer is rebuilt offline
    assert path.read_bytes() == checkpoint_bytes()
    out = capsys.readouterr().out
    assert "appeared while random weights were being written" in out
    assert files_in(tmp_path) == [WEIGHTS, TOKENIZER]


DOWNLOADER = """
import sys
import helpers.files.checkpoint as checkpoint
import helpers.files.download as download
from helpers.tiny_model import TINY_QWEN3_CONFIG
checkpoint.EXPECTED_CONFIG = TINY_QWEN3_CONFIG
download.BACKUP_ROOT = sys.argv[2] + "/backup"
download.download_qwen3_small(out_dir=sys.argv[1])
"""


@pytest.mark.slow  # two new processes, each imports torch
def test_two_processes_share_one_download(server, tokenizer_bytes,
                                          tmp_path):
    # Two notebooks opened at once, one folder: before, each deleted or
    # extended the other's part file
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, checkpoint_bytes(), behaviour="slow")
    env = {**os.environ, "HF_ENDPOINT": server.url}
    env.pop("HF_HUB_OFFLINE", None)
    processes = [
        subprocess.Popen([sys.executable, "-c", DOWNLOADER, str(tmp_path),
                          server.url], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert files_in(tmp_path) == [WEIGHTS, TOKENIZER]
    # One process downloaded; the other waited, then found the file
    assert server.requests.count(("GET", f"/rasbt/qwen3-from-scratch/"
                                         f"resolve/main/{WEIGHTS}")) == 1
    waited = [out for out, _ in outputs if "another process is fetching "
              "it; waiting" in out]
    assert len(waited) == 1 and "already present" in waited[0]


def test_bytes_that_differ_from_the_published_sha256_are_discarded(
        server, tmp_path):
    # The fake server, like the Hub for large files, publishes the
    # sha256 as the ETag; here it publishes another file's
    server.add(WEIGHTS, b"w" * 1000, behaviour="bad-etag")
    with pytest.raises(DownloadError, match="sha256 differs from the one "
                       "the server published"):
        download_file(f"{server.url}/backup/{WEIGHTS}", tmp_path / WEIGHTS)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("etag", "sha256"),
    [
        (f'"{"ab" * 32}"', "ab" * 32),
        ("ab" * 32, "ab" * 32),
        (f'W/"{"ab" * 32}"', None),  # weak: never names the bytes
        ('"5d41402abc4b2a76b9719d911017c592"', None),  # an MD5
        (None, None),
    ],
)
def test_sha256_from_etag(etag, sha256):
    assert download.sha256_from_etag(etag) == sha256


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_fails_at_once_with_one_message(server, tmp_path):
    # Before: a raw OSError after 20 s of retries
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(DownloadError, match="cannot write in"):
            download_qwen3_small(out_dir=tmp_path, tokenizer_only=True)
    finally:
        tmp_path.chmod(0o700)
    assert server.requests == []
