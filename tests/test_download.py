"""download_qwen3_small against a stand-in for the Hub on 127.0.0.1.

``HF_ENDPOINT`` points huggingface_hub at the stand-in
(``http_server.py``), which also plays the book's backup host."""

import hashlib
import io
import os
import socket
import subprocess
import sys

import pytest
import torch

import helpers.files.download as download
from helpers import download_qwen3_small
from helpers.files.download import (
    STAGING,
    DownloadError,
    InvalidFileError,
    WeightsNotAvailableError,
    qwen3_files,
)
from helpers.files.offline_tokenizer import QWEN3_TOKENIZER_SHA256
from helpers.files.random_weights import seeded_model, write_random_checkpoint
from helpers.tiny_model import TINY_QWEN3_CONFIG
from http_server import HUB_PREFIX, FakeFileServer
from notebooks import ROOT
from script_args import load_script

WEIGHTS = "qwen3-0.6B-base.pth"
TOKENIZER = "tokenizer-base.json"
HTML = b"<!DOCTYPE html><html><body>Please log in to the Wi-Fi</body></html>"
HUB_GET = ("GET", HUB_PREFIX + WEIGHTS)
BACKUP_GET = ("GET", f"/backup/{WEIGHTS}")


@pytest.fixture
def server(monkeypatch):
    with FakeFileServer() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(download, "BACKUP_ROOT", srv.url + "/backup")
        # huggingface_hub pauses 1, 2, 4, 8 s between retries
        monkeypatch.setattr("huggingface_hub.utils._http.time.sleep",
                            lambda seconds: None)
        yield srv


def fetch(out_dir, **kwargs):
    """``qwen3_files`` with weights that fit the tiny model."""
    return qwen3_files(out_dir=out_dir, cfg=TINY_QWEN3_CONFIG, **kwargs)


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
    """The files a reader sees in ``folder``: not the hidden lock files
    and staging folder."""
    return sorted(p.name for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith(".")
                  and STAGING not in p.parts)


def serve_both(server, tokenizer_bytes):
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, checkpoint_bytes())


def test_first_run_into_new_nested_folders(server, tokenizer_bytes,
                                           tmp_path):
    serve_both(server, tokenizer_bytes)
    out_dir = tmp_path / "course" / "ch02" / "qwen3"
    paths = fetch(out_dir)
    assert paths == {"tokenizer": out_dir / TOKENIZER,
                     "model": out_dir / WEIGHTS}
    assert (out_dir / TOKENIZER).read_bytes() == tokenizer_bytes
    assert (out_dir / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert files_in(tmp_path) == [WEIGHTS, TOKENIZER]
    assert HUB_GET in server.requests and BACKUP_GET not in server.requests


def test_the_books_function_returns_nothing(server, tokenizer_bytes,
                                            tmp_path):
    server.add(TOKENIZER, tokenizer_bytes)
    assert download_qwen3_small(tokenizer_only=True,
                                out_dir=tmp_path) is None
    assert files_in(tmp_path) == [TOKENIZER]


def test_present_files_need_no_request(server, tokenizer_bytes, tmp_path):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    (tmp_path / WEIGHTS).write_bytes(checkpoint_bytes())
    paths = fetch(tmp_path)
    assert server.requests == []
    assert paths["model"] == tmp_path / WEIGHTS


@pytest.mark.parametrize("hub", ["missing", "busy"], ids=["404", "503"])
def test_the_backup_host_when_the_hub_fails(server, tokenizer_bytes,
                                            tmp_path, monkeypatch, hub,
                                            capsys):
    # The Hub's files behave as `hub`; the backup host serves them
    monkeypatch.setenv("HF_ENDPOINT", server.url + f"/{hub}")
    serve_both(server, tokenizer_bytes)
    fetch(tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert BACKUP_GET in server.requests
    assert "Download failed" in capsys.readouterr().out


def test_a_download_cut_off_once_is_completed(server, tokenizer_bytes,
                                              tmp_path):
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, checkpoint_bytes(), behaviour="truncate-once")
    fetch(tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()


def test_a_download_that_keeps_breaking_leaves_no_file(
        server, tokenizer_bytes, tmp_path):
    server.add(TOKENIZER, tokenizer_bytes)
    server.add(WEIGHTS, checkpoint_bytes(), behaviour="truncate")
    with pytest.raises(WeightsNotAvailableError):
        fetch(tmp_path)
    assert files_in(tmp_path) == [TOKENIZER]
    # What was left half-way is never taken for the file later
    server.add(WEIGHTS, checkpoint_bytes())
    fetch(tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()


def test_unknown_host_name_fails_without_retries(server, tmp_path,
                                                monkeypatch, capsys):
    # Offline, a server's name does not resolve, and will not later
    def no_such_name(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(download.socket, "getaddrinfo", no_such_name)
    fetch(tmp_path, tokenizer_only=True)  # rebuilt offline instead
    assert server.requests == []
    assert "Name or service not known" in capsys.readouterr().out
    assert files_in(tmp_path) == [TOKENIZER]


def test_html_page_is_never_taken_for_the_tokenizer(server, tmp_path,
                                                    capsys):
    server.add(TOKENIZER, HTML)
    fetch(tmp_path, tokenizer_only=True)
    digest = hashlib.sha256((tmp_path / TOKENIZER).read_bytes()).hexdigest()
    assert digest == QWEN3_TOKENIZER_SHA256  # rebuilt offline instead
    out = capsys.readouterr().out
    assert "HTML page" in out and "rebuilt offline" in out
    assert files_in(tmp_path) == [TOKENIZER]


def test_html_file_already_there_is_reported_and_kept(server, tmp_path):
    (tmp_path / TOKENIZER).write_bytes(HTML)
    with pytest.raises(InvalidFileError, match="HTML page") as info:
        fetch(tmp_path, tokenizer_only=True)
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
        fetch(tmp_path)
    assert files_in(tmp_path) == [TOKENIZER]
    assert not list((tmp_path / STAGING).glob(WEIGHTS))


def test_weights_unavailable_error_says_what_to_do(server, tokenizer_bytes,
                                                   tmp_path):
    server.add(TOKENIZER, tokenizer_bytes)
    with pytest.raises(WeightsNotAvailableError) as info:
        fetch(tmp_path)
    message = str(info.value)
    for hint in ("404", "HTTPS_PROXY", "HF_ENDPOINT", "QWEN3_RANDOM_WEIGHTS",
                 f"{server.url}/backup/{WEIGHTS}", str(tmp_path.resolve())):
        assert hint in message
    assert files_in(tmp_path) == [TOKENIZER]


@pytest.mark.parametrize("value", ["1", "true", "True", "ON", "yes"])
def test_offline_switch_is_read_as_huggingface_reads_it(server, tmp_path,
                                                        monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    fetch(tmp_path, tokenizer_only=True)
    assert server.requests == []
    assert files_in(tmp_path) == [TOKENIZER]


def test_offline_weights_error_says_to_unset_the_switch(server, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError,
                       match="Unset HF_HUB_OFFLINE") as info:
        fetch(tmp_path)
    assert "internet connection" not in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_offline_switch_off_downloads(server, tokenizer_bytes, tmp_path,
                                      monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    server.add(TOKENIZER, tokenizer_bytes)
    fetch(tmp_path, tokenizer_only=True)
    assert ("GET", HUB_PREFIX + TOKENIZER) in server.requests


def test_random_checkpoint_is_replaced_by_a_real_download(
        server, tokenizer_bytes, tmp_path, capsys):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    write_random_checkpoint(tmp_path / WEIGHTS, cfg=TINY_QWEN3_CONFIG)
    server.add(WEIGHTS, checkpoint_bytes())
    fetch(tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == checkpoint_bytes()
    assert "RANDOM weights" in capsys.readouterr().out


def test_random_checkpoint_is_not_accepted_when_download_fails(
        server, tokenizer_bytes, tmp_path):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    write_random_checkpoint(tmp_path / WEIGHTS, cfg=TINY_QWEN3_CONFIG)
    random_bytes = (tmp_path / WEIGHTS).read_bytes()
    with pytest.raises(WeightsNotAvailableError):
        fetch(tmp_path)
    assert (tmp_path / WEIGHTS).read_bytes() == random_bytes


def test_unreadable_checkpoint_on_disk_is_reported_and_kept(
        server, tokenizer_bytes, tmp_path):
    (tmp_path / TOKENIZER).write_bytes(tokenizer_bytes)
    (tmp_path / WEIGHTS).write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidFileError, match="Delete the file"):
        fetch(tmp_path)
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
        ({"kind": ["base"]}, ValueError, "'base' or 'reasoning'"),
        ({"tokenizer_only": "yes"}, TypeError, "True or False"),
        ({"out_dir": ""}, ValueError, "out_dir='' is not a folder name"),
        ({"out_dir": "  "}, ValueError, "is not a folder name"),
        ({"out_dir": "qw\x00en"}, ValueError, "is not a folder name"),
        ({"out_dir": None}, TypeError, "out_dir must be a folder name"),
    ],
)
def test_bad_arguments(tmp_path, monkeypatch, kwargs, error, message):
    monkeypatch.chdir(tmp_path)  # out_dir="" once wrote here
    with pytest.raises(error, match=message):
        download_qwen3_small(**{"out_dir": "qwen3", **kwargs})
    assert files_in(tmp_path) == []


def test_reasoning_kind_uses_the_book_file_names(server, tokenizer_bytes,
                                                 tmp_path):
    server.add("tokenizer-reasoning.json", tokenizer_bytes)
    server.add("qwen3-0.6B-reasoning.pth", checkpoint_bytes())
    paths = fetch(tmp_path, kind="reasoning")
    assert paths["model"].name == "qwen3-0.6B-reasoning.pth"
    assert paths["tokenizer"].name == "tokenizer-reasoning.json"


def test_malformed_hf_endpoint_is_one_clear_error(server, tmp_path,
                                                  monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "not a url")
    with pytest.raises(DownloadError, match="HF_ENDPOINT='not a url' is "
                       "not a web address"):
        fetch(tmp_path, tokenizer_only=True)
    assert server.requests == [] and files_in(tmp_path) == []


def test_folder_in_place_of_the_tokenizer_is_refused(tmp_path):
    (tmp_path / TOKENIZER).mkdir()
    with pytest.raises(InvalidFileError, match="is a folder, where the "
                       f"file {TOKENIZER} should be"):
        download_qwen3_small(out_dir=tmp_path, tokenizer_only=True)


def test_random_weights_never_replace_a_file_that_appeared(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / WEIGHTS
    real = write_random_checkpoint

    def finished_meanwhile(target, cfg, replace=True):
        target.write_bytes(checkpoint_bytes())  # a real download lands
        return real(target, cfg, replace=replace)

    monkeypatch.setattr(download, "write_random_checkpoint",
                        finished_meanwhile)
    fetch(tmp_path)  # the tokenizer is rebuilt offline
    assert path.read_bytes() == checkpoint_bytes()
    out = capsys.readouterr().out
    assert "appeared while random weights were being written" in out
    assert files_in(tmp_path) == [WEIGHTS, TOKENIZER]


DOWNLOADER = """
import sys
import helpers.files.download as download
from helpers.tiny_model import TINY_QWEN3_CONFIG
download.BACKUP_ROOT = sys.argv[2] + "/backup"
download.qwen3_files(out_dir=sys.argv[1], cfg=TINY_QWEN3_CONFIG)
"""


@pytest.mark.slow  # two new processes, each imports torch
def test_two_processes_share_one_download(server, tokenizer_bytes,
                                          tmp_path):
    # Two notebooks opened at once, one folder: one download, and the
    # other process waits for it
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
    assert server.requests.count(HUB_GET) == 1
    waited = [out for out, _ in outputs if "another process is fetching "
              "it; waiting" in out]
    assert len(waited) == 1 and "already present" in waited[0]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root may write anywhere")
def test_read_only_folder_fails_at_once_with_one_message(server, tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(DownloadError, match="cannot write in"):
            fetch(tmp_path, tokenizer_only=True)
    finally:
        tmp_path.chmod(0o700)
    assert server.requests == []


@pytest.mark.slow  # the full-size model
def test_the_weekly_real_model_check_runs_dry(full_size_dir, capsys,
                                              monkeypatch):
    # The dry run sets both; monkeypatch takes them back afterwards
    monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check = load_script(ROOT / "tests" / "real_model_check.py")
    assert check.main(["--dry-run", "--out-dir", str(full_size_dir)]) == 0
    out = capsys.readouterr().out
    for line in ("✓ prompt token ids: [840, 20772, 3460, 4128, 4119, 13]",
                 "✓ logits shape: (6, 151936)",
                 "✓ token 20286: ' Large'", "dry run"):
        assert line in out
