"""Download the Qwen3 0.6B weights and tokenizer (sections 2.4 and 2.5),
with the book's signature, file names and folder.

``huggingface_hub`` fetches the files (resume, retries, progress bar,
``HF_ENDPOINT``, ``HF_TOKEN``, proxies), and its HTTP client the book's
backup host when the Hub fails. Files already there are checked and used
offline. A download waits in ``.download/`` until it passes the check
(the tokenizer's sha256; the weights' keys, shapes and finite values).
Processes that want the same file take turns.
"""

import hashlib
import os
import socket
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

from ..errors import one_line
from .checkpoint import CheckpointError, check_checkpoint
from .offline_tokenizer import (
    QWEN3_TOKENIZER_SHA256,
    TokenizerRebuildError,
    rebuild_qwen3_tokenizer,
)
from .random_weights import (
    RANDOM_WEIGHTS_ENV,
    is_random_checkpoint,
    random_weights_requested,
    write_random_checkpoint,
)

HF_REPO_ID = "rasbt/qwen3-from-scratch"
HF_ENDPOINT = "https://huggingface.co"
BACKUP_ROOT = (
    "https://f001.backblazeb2.com/file/reasoning-from-scratch/qwen3-0.6B"
)
QWEN3_FILES = {
    "base": {"model": "qwen3-0.6B-base.pth",
             "tokenizer": "tokenizer-base.json"},
    "reasoning": {"model": "qwen3-0.6B-reasoning.pth",
                  "tokenizer": "tokenizer-reasoning.json"},
}
STAGING = ".download"  # inside out_dir: downloads wait here for a check


class DownloadError(RuntimeError):
    """A file could not be fetched, or what arrived is not the file."""


class WeightsNotAvailableError(RuntimeError):
    """The weights are neither on disk nor downloadable."""


class InvalidFileError(RuntimeError):
    """A file on disk is not what its name says; it is left untouched."""


def download_qwen3_small(kind="base", tokenizer_only=False, out_dir="qwen3"):
    """Make the Qwen3 0.6B tokenizer (and weights) available in
    ``out_dir``; ``qwen3_files`` also returns their paths."""
    qwen3_files(kind, tokenizer_only, out_dir)


def qwen3_files(kind="base", tokenizer_only=False, out_dir="qwen3",
                cfg=QWEN_CONFIG_06_B):
    """The paths of the ``"tokenizer"`` (and ``"model"``) files, there or
    downloaded; the weights must fit ``Qwen3Model(cfg)``."""
    if not isinstance(kind, str) or kind not in QWEN3_FILES:
        raise ValueError(
            f"kind={kind!r} is not available; use 'base' or 'reasoning'."
        )
    if not isinstance(tokenizer_only, bool):
        raise TypeError(
            f"tokenizer_only must be True or False, got {tokenizer_only!r}."
        )
    out_dir = _folder(out_dir)
    files = QWEN3_FILES[kind]
    paths = {"tokenizer": _ensure_tokenizer(out_dir / files["tokenizer"])}
    if not tokenizer_only:
        paths["model"] = _ensure_weights(out_dir / files["model"], cfg)
    return paths


def _folder(out_dir):
    """``out_dir`` as a Path, created with its parents."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(
            f"out_dir must be a folder name or a Path, got {out_dir!r}; "
            "for example out_dir='qwen3'."
        )
    text = os.fspath(out_dir)
    if not text.strip() or "\0" in text:
        # Path("") is the current folder: never write there unasked
        raise ValueError(
            f"out_dir={text!r} is not a folder name: name one, for "
            "example out_dir='qwen3' (or '.' for the current folder)."
        )
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the folder {folder} ({one_line(exc)}); "
            "choose another out_dir"
        ) from exc
    return folder


def file_urls(filename):
    """The Hub's and the backup host's URL of one of the book's files."""
    endpoint = os.environ.get("HF_ENDPOINT") or HF_ENDPOINT
    return (f"{endpoint.rstrip('/')}/{HF_REPO_ID}/resolve/main/{filename}",
            f"{BACKUP_ROOT}/{filename}")


def offline_requested():
    """HF_HUB_OFFLINE, read as huggingface_hub reads it, at each call."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


@contextmanager
def _taking_turns(path):
    """Hold the lock that processes fetching ``path`` share."""
    lock = FileLock(path.with_name(f".{path.name}.lock"))
    try:
        lock.acquire(timeout=0.1)
    except TimeoutError:  # filelock's Timeout
        print(f"{path.name}: another process is fetching it; waiting")
        lock.acquire()
    except OSError as exc:
        raise DownloadError(
            f"cannot write in {path.parent} ({one_line(exc)}); choose "
            "another out_dir, or make the folder writable"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _refuse_folder(path):
    if path.is_dir():
        raise InvalidFileError(
            f"{path} is a folder, where the file {path.name} should be: "
            "move the folder away (or choose another out_dir) and run "
            "again."
        )


# The tokenizer ---------------------------------------------------------------

def tokenizer_problem(path):
    """None if ``path`` holds Qwen3's tokenizer, else what is wrong."""
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() == QWEN3_TOKENIZER_SHA256:
        return None
    if data.lstrip()[:1] == b"<":
        return ("it is an HTML page, not the tokenizer (a login page, "
                "proxy or captive portal may have answered instead)")
    return "its sha256 differs from Qwen3's tokenizer.json"


def _ensure_tokenizer(path):
    _refuse_folder(path)
    if not path.is_file():
        with _taking_turns(path):
            if not path.is_file():  # nobody finished it while we waited
                return _fetch_tokenizer(path)
    problem = tokenizer_problem(path)
    if problem is None:
        print(f"✓ {path} already present")
        return path
    raise InvalidFileError(
        f"{path} is not the Qwen3 tokenizer: {problem}. Delete the "
        "file and run again: it is then downloaded (or rebuilt offline)."
    )


def _fetch_tokenizer(path):
    errors = _download(path, tokenizer_problem)
    if not errors:
        return path
    try:
        rebuild_qwen3_tokenizer(path)
    except TokenizerRebuildError as exc:
        raise DownloadError(
            f"{path.name} could not be downloaded ({'; '.join(errors)}) "
            f"nor rebuilt offline: {exc}"
        ) from exc
    print(f"✓ {path} rebuilt offline from the Qwen vocabulary (sha256 "
          "matches the official file)")
    return path


# The weights -----------------------------------------------------------------

def _ensure_weights(path, cfg):
    _refuse_folder(path)
    if path.is_file() and _keep_weights(path, cfg):
        return path
    with _taking_turns(path):
        # Another process may have finished the file while we waited
        if path.is_file() and _keep_weights(path, cfg, quiet=True):
            return path
        if random_weights_requested() and not path.is_file():
            try:
                write_random_checkpoint(path, cfg, replace=False)
            except FileExistsError:  # copied in by hand meanwhile
                print(f"{path} appeared while random weights were being "
                      "written: keeping it")
                if _keep_weights(path, cfg):
                    return path
            else:
                _print_random_banner(path)
                return path

        def problem(staged):
            try:
                check_checkpoint(staged, read_values=True, cfg=cfg)
            except CheckpointError as exc:
                return str(exc)

        errors = _download(path, problem)
    if not errors:
        return path
    raise WeightsNotAvailableError(_weights_help(path, errors))


def _keep_weights(path, cfg, quiet=False):
    """True if the checkpoint at ``path`` is the one to use; False for
    random weights when the real ones are wanted."""
    try:
        check_checkpoint(path, read_values=False, cfg=cfg)
    except CheckpointError as exc:
        raise InvalidFileError(
            f"{path} is not a Qwen3 0.6B checkpoint: {exc}. Delete the "
            "file and run again to download it."
        ) from exc
    random_wanted = random_weights_requested()
    if not is_random_checkpoint(path):
        if random_wanted:
            print(f"{RANDOM_WEIGHTS_ENV}=1 is set, but {path} holds "
                  "trained weights: keeping them.")
        else:
            print(f"✓ {path} already present")
        return True
    if random_wanted:
        _print_random_banner(path)
        return True
    if not quiet:
        print(f"{path} holds RANDOM weights written in random-weights "
              f"mode, and {RANDOM_WEIGHTS_ENV} is not set: downloading "
              "the real weights to replace them.")
    return False


# Downloading -----------------------------------------------------------------

def _download(path, problem):
    """Fetch ``path.name`` from the Hub, else from the backup host; it
    becomes ``path`` once ``problem(staged)`` says None. Returns the
    errors met ([] on success)."""
    if offline_requested():
        return ["HF_HUB_OFFLINE is set, so no download was tried"]
    endpoint = os.environ.get("HF_ENDPOINT")
    if endpoint and not _is_web_address(endpoint):
        raise DownloadError(
            f"HF_ENDPOINT={endpoint!r} is not a web address: set it to a "
            "Hub mirror's URL (for example https://hf-mirror.com) or unset "
            "it to use https://huggingface.co"
        )
    hub, backup = file_urls(path.name)
    staging = path.parent / STAGING
    errors = []
    for url, fetch in ((hub, _from_hub), (backup, _from_backup)):
        try:
            _check_host(url)
            staged = Path(fetch(url, path.name, staging))
        except Exception as exc:  # httpx's, the Hub's and OS errors alike
            errors.append(f"{url}: {one_line(exc)}")
            print(f"Download failed: {errors[-1]}")
            continue
        wrong = problem(staged)
        if wrong is None:
            os.replace(staged, path)
            return []
        staged.unlink()
        errors.append(f"{url}: the downloaded file is not {path.name}: "
                      f"{wrong}; it was deleted")
        print(f"Download failed: {errors[-1]}")
    return errors


def _is_web_address(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_host(url):
    """Fail at once, without retries, for a name that does not resolve."""
    parts = urllib.parse.urlsplit(url)
    try:
        socket.getaddrinfo(parts.hostname, parts.port or 443)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            raise DownloadError(f"{parts.hostname}: {exc.strerror}") \
                from None


def _from_hub(url, filename, staging):
    from huggingface_hub import hf_hub_download

    endpoint = url.removesuffix(f"/{HF_REPO_ID}/resolve/main/{filename}")
    return hf_hub_download(HF_REPO_ID, filename, local_dir=staging,
                           endpoint=endpoint)


def _from_backup(url, filename, staging):
    """The backup host through huggingface_hub's HTTP client."""
    from huggingface_hub.file_download import http_get

    staging.mkdir(exist_ok=True)
    staged = staging / filename
    part = staging / f"{filename}.incomplete"
    with open(part, "wb") as f:
        http_get(url, f, displayed_filename=filename)
    os.replace(part, staged)
    return staged


def _weights_help(path, errors):
    hub, backup = file_urls(path.name)
    tried = "\n".join(f"  - {e}" for e in errors)
    if offline_requested():
        connect = ("Unset HF_HUB_OFFLINE (it forbids downloads), then run "
                   "again.")
    else:
        connect = ("Check your internet connection. Behind a proxy, set "
                   "HTTPS_PROXY (and HTTP_PROXY) before starting Python; "
                   "for a Hub mirror, set HF_ENDPOINT.")
    return (
        f"Could not download the weights {path.name}.\n"
        f"Tried:\n{tried}\n"
        "What you can do:\n"
        f"  1. {connect}\n"
        "  2. Download the file by hand from either URL and save it as "
        f"{path.resolve()}:\n"
        f"       {hub}\n"
        f"       {backup}\n"
        f"  3. To run the code without the real model (text will be "
        f"gibberish), set {RANDOM_WEIGHTS_ENV}=1 to use random weights."
    )


def _print_random_banner(path):
    line = "!" * 72
    print(
        f"{line}\n"
        f"!! RANDOM WEIGHTS ({RANDOM_WEIGHTS_ENV}=1): {path.name}\n"
        "!! The model runs at full size and speed, but its text is\n"
        "!! GIBBERISH. Unset the variable to download the real weights.\n"
        f"{line}"
    )
