"""Download the Qwen3 0.6B weights and tokenizer (sections 2.4 and 2.5).

Same signature and file names as the book's ``download_qwen3_small``, but:

- files already present are used without any network access;
- downloads go to a hidden part file that is renamed only when complete,
  and an interrupted download resumes where it stopped;
- the tokenizer is rebuilt offline (byte-identical) when it cannot be
  downloaded;
- weights that cannot be downloaded raise ``WeightsNotAvailableError``, which
  says what failed and what to do;
- with ``QWEN3_RANDOM_WEIGHTS=1`` a full-size checkpoint of random weights is
  written instead (see ``helpers.random_weights``).

Downloads use the standard library: proxies come from HTTPS_PROXY/HTTP_PROXY,
a Hub mirror from HF_ENDPOINT, and HF_HUB_OFFLINE=1 skips the network.
"""

import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .offline_tokenizer import TokenizerRebuildError, rebuild_qwen3_tokenizer
from .random_weights import (
    RANDOM_WEIGHTS_ENV,
    is_random_checkpoint,
    random_weights_requested,
    write_random_checkpoint,
)

HF_REPO_ID = "rasbt/qwen3-from-scratch"
HF_ENDPOINT = "https://huggingface.co"
HF_URL = "{endpoint}/{repo}/resolve/main/{file}"
BACKUP_ROOT = (
    "https://f001.backblazeb2.com/file/reasoning-from-scratch/qwen3-0.6B"
)
QWEN3_FILES = {
    "base": {
        "model": "qwen3-0.6B-base.pth",
        "tokenizer": "tokenizer-base.json",
    },
    "reasoning": {
        "model": "qwen3-0.6B-reasoning.pth",
        "tokenizer": "tokenizer-reasoning.json",
    },
}
# Seconds to wait for a server that stops answering
DOWNLOAD_TIMEOUT = 30


class DownloadError(RuntimeError):
    """A file could not be fetched from one URL."""


class WeightsNotAvailableError(RuntimeError):
    """The weights are neither on disk nor downloadable."""


def download_qwen3_small(kind="base", tokenizer_only=False, out_dir="qwen3"):
    """Make the Qwen3 0.6B tokenizer (and weights) available in ``out_dir``.

    Introduced in section 2.4 (tokenizer) and 2.5 (weights). Returns a dict
    with the paths of the files it made available.
    """
    if kind not in QWEN3_FILES:
        raise ValueError(
            f"kind={kind!r} is not available; use 'base' or 'reasoning'."
        )
    if not isinstance(tokenizer_only, bool):
        raise TypeError(
            f"tokenizer_only must be True or False, got {tokenizer_only!r}."
        )
    out_dir = Path(out_dir)
    files = QWEN3_FILES[kind]
    paths = {"tokenizer": _ensure_tokenizer(out_dir / files["tokenizer"])}
    if not tokenizer_only:
        paths["model"] = _ensure_weights(out_dir / files["model"])
    return paths


def file_urls(filename, endpoint=None):
    """The primary (Hub) and backup URLs of one of the book's files."""
    if endpoint is None:
        endpoint = os.environ.get("HF_ENDPOINT", HF_ENDPOINT)
    primary = HF_URL.format(endpoint=endpoint.rstrip("/"), repo=HF_REPO_ID,
                            file=filename)
    return primary, f"{BACKUP_ROOT}/{filename}"


def _ensure_tokenizer(path):
    if path.is_file():
        print(f"✓ {path} already present")
        return path
    errors = _download(path)
    if errors is None:
        return path
    # The rebuild replaces any partial download of the tokenizer
    path.with_name(f".{path.name}.part").unlink(missing_ok=True)
    try:
        rebuild_qwen3_tokenizer(path)
    except TokenizerRebuildError as exc:
        raise DownloadError(
            f"{path.name} could not be downloaded ({'; '.join(errors)}) "
            f"nor rebuilt offline: {exc}"
        ) from exc
    print(
        f"✓ {path} rebuilt offline from the Qwen vocabulary "
        "(sha256 matches the official file)"
    )
    return path


def _ensure_weights(path):
    random_wanted = random_weights_requested()
    if path.is_file():
        if not is_random_checkpoint(path):
            if random_wanted:
                print(
                    f"{RANDOM_WEIGHTS_ENV}=1 is set, but {path} holds the "
                    "real weights: keeping them."
                )
            else:
                print(f"✓ {path} already present")
            return path
        if random_wanted:
            _print_random_banner(path)
            return path
        print(
            f"{path} holds RANDOM weights written in random-weights mode, "
            f"and {RANDOM_WEIGHTS_ENV} is not set: downloading the real "
            "weights to replace them."
        )
    elif random_wanted:
        write_random_checkpoint(path)
        _print_random_banner(path)
        return path

    errors = _download(path)
    if errors is None:
        return path
    raise WeightsNotAvailableError(_weights_help(path, errors))


def _download(path):
    """Fetch ``path.name`` into ``path``; return None or the errors seen."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip() in {"1", "true", "yes"}:
        return ["HF_HUB_OFFLINE is set, so no download was tried"]
    errors = []
    for url in file_urls(path.name):
        try:
            download_file(url, path)
            return None
        except DownloadError as exc:
            errors.append(str(exc))
            print(f"Download failed: {exc}")
    return errors


def download_file(url, dest, timeout=None):
    """Download ``url`` to ``dest``, resuming an interrupted download.

    The bytes go to a hidden ``.<name>.part`` file beside ``dest``, renamed
    to ``dest`` only once the whole body (as announced by the server) has
    arrived, so ``dest`` never looks complete when it is not. After a
    failure the part file stays, and the next call asks the server for the
    missing bytes only (an HTTP Range request). Raises ``DownloadError``.
    """
    dest = Path(dest)
    part = dest.with_name(f".{dest.name}.part")
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    done = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={done}-"} if done else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status != 206:  # the whole file: start over
                done = 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            with open(part, "ab" if done else "wb") as f:
                _copy_with_progress(response, f, dest.name, done, total)
                size = f.tell()
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the part file does not fit: start over
            part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {_short(exc)}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DownloadError(
            f"{url}: {_short(exc)} (run again to resume)"
        ) from exc
    if total is not None and size != total:
        raise DownloadError(
            f"{url}: connection closed after {size} of {total} bytes "
            "(run again to resume)"
        )
    os.replace(part, dest)
    return dest


def _copy_with_progress(response, f, name, done, total):
    while chunk := response.read(1024 * 1024):
        f.write(chunk)
        done += len(chunk)
        if total:
            sys.stdout.write(
                f"\r{name}: {done * 100 // total:3d}% "
                f"({done // 2**20} MiB / {total // 2**20} MiB)"
            )
            sys.stdout.flush()
    if total:
        sys.stdout.write("\n")


def _short(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _weights_help(path, errors):
    primary, backup = file_urls(path.name)
    tried = "\n".join(f"  - {e}" for e in errors)
    return (
        f"Could not download the weights {path.name}.\n"
        f"Tried:\n{tried}\n"
        "What you can do:\n"
        "  1. Check your internet connection. Behind a proxy, set "
        "HTTPS_PROXY (and HTTP_PROXY) before starting Python; for a Hub "
        "mirror, set HF_ENDPOINT.\n"
        "  2. Download the file by hand from either URL and save it as "
        f"{path.resolve()}:\n"
        f"       {primary}\n"
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

