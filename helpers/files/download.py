"""Download the Qwen3 0.6B weights and tokenizer (sections 2.4 and 2.5).

``download_qwen3_small`` has the book's signature and file names, but:

- the output folder is created, nested folders included;
- files already present are checked (the tokenizer by its sha256, the
  weights by their keys and shapes) and used without network access;
- downloads go to a hidden part file that becomes the real file only once
  it is complete (the size the server announced) and verified: against
  the sha256 the server publishes as its ETag, where it does (the Hub does
  for large files), the tokenizer against Qwen's sha256, the weights as a
  loadable Qwen3 0.6B checkpoint of finite numbers;
- an interrupted download resumes where it stopped, from the same URL and
  only while the server's file is unchanged (``If-Range``); a server that
  answers with other bytes than the ones asked for makes it start over;
- network hiccups are retried a few times, with a growing pause (a
  server name that does not exist, as offline, is not: no waiting);
- the tokenizer is rebuilt offline (byte-identical) when it cannot be
  downloaded, and weights that cannot be downloaded raise
  ``WeightsNotAvailableError``, which says what failed and what to do;
- with ``QWEN3_RANDOM_WEIGHTS=1`` a full-size checkpoint of random weights
  is written instead (see ``helpers.random_weights``); it never replaces a
  file that appeared meanwhile;
- processes that need the same file take turns (a ``.<name>.lock`` file
  beside it, with ``filelock``): two notebooks opened at once share one
  download instead of spoiling each other's;
- a part or state file that is a symbolic link is removed, never written
  through; a folder where a file should be, an empty ``out_dir`` and a
  malformed ``HF_ENDPOINT`` are refused with a message that says what to
  do.

Downloads use the standard library: proxies come from HTTPS_PROXY and
HTTP_PROXY, a Hub mirror from HF_ENDPOINT, and HF_HUB_OFFLINE (1, true,
yes or on, as in ``huggingface_hub``) skips the network.
"""

import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from . import checkpoint
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
# A 1.5 GB download meets hiccups: try again this often, pausing
# RETRY_PAUSE seconds, then twice as long, and so on
RETRIES = 3
RETRY_PAUSE = 2.0
CHUNK_BYTES = 1024 * 1024
# Status codes worth another try: the server is busy or had a problem
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
# Opening a part or state file never follows a symbolic link (POSIX)
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


class DownloadError(RuntimeError):
    """A file could not be fetched, or what arrived is not the file."""


class WeightsNotAvailableError(RuntimeError):
    """The weights are neither on disk nor downloadable."""


class InvalidFileError(RuntimeError):
    """A file on disk is not what its name says; it is left untouched."""


class _Retry(Exception):
    """A failure that another attempt may not have."""


def download_qwen3_small(kind="base", tokenizer_only=False, out_dir="qwen3"):
    """Make the Qwen3 0.6B tokenizer (and weights) available in ``out_dir``.

    Introduced in section 2.4 (tokenizer) and 2.5 (weights). Returns
    nothing, like the book's function; ``qwen3_files`` returns the paths.
    """
    qwen3_files(kind, tokenizer_only, out_dir)


def qwen3_files(kind="base", tokenizer_only=False, out_dir="qwen3"):
    """Like ``download_qwen3_small``; returns a dict with the paths of
    the ``"tokenizer"`` (and ``"model"``) files."""
    if kind not in QWEN3_FILES:
        raise ValueError(
            f"kind={kind!r} is not available; use 'base' or 'reasoning'."
        )
    if not isinstance(tokenizer_only, bool):
        raise TypeError(
            f"tokenizer_only must be True or False, got {tokenizer_only!r}."
        )
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(
            f"out_dir must be a folder name or a Path, got {out_dir!r}; "
            "for example out_dir='qwen3'."
        )
    if not str(out_dir).strip():
        # Path("") is the current folder: never write there unasked
        raise ValueError(
            "out_dir is empty: name a folder, for example out_dir='qwen3' "
            "(or out_dir='.' for the current folder)."
        )
    out_dir = Path(out_dir)
    _make_folder(out_dir)
    files = QWEN3_FILES[kind]
    paths = {"tokenizer": _ensure_tokenizer(out_dir / files["tokenizer"])}
    if not tokenizer_only:
        paths["model"] = _ensure_weights(out_dir / files["model"])
    return paths


def file_urls(filename, endpoint=None):
    """The primary (Hub) and backup URLs of one of the book's files."""
    if endpoint is None:
        endpoint = os.environ.get("HF_ENDPOINT") or HF_ENDPOINT
    primary = HF_URL.format(endpoint=endpoint.rstrip("/"), repo=HF_REPO_ID,
                            file=filename)
    return primary, f"{BACKUP_ROOT}/{filename}"


def _check_endpoint():
    """HF_ENDPOINT, if set, must be a web address (urllib would fail on
    it deep inside, with a traceback)."""
    endpoint = os.environ.get("HF_ENDPOINT")
    if not endpoint:
        return
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadError(
            f"HF_ENDPOINT={endpoint!r} is not a web address: set it to a "
            "Hub mirror's URL (for example https://hf-mirror.com) or unset "
            "it to use https://huggingface.co"
        )


@contextmanager
def file_lock(path):
    """Hold the lock of ``path`` (``.<name>.lock`` beside it), so that
    processes fetching the same file take turns; say so when waiting."""
    lock_path = path.with_name(f".{path.name}.lock")
    if lock_path.is_symlink():
        raise InvalidFileError(
            f"{lock_path} is a symbolic link, not a lock file: delete it "
            "and run again."
        )
    lock = FileLock(lock_path)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"{path.name}: another process is fetching it; waiting "
                  "until it has finished")
            lock.acquire()
    except OSError as exc:
        raise DownloadError(
            f"cannot write in {path.parent} ({_reason(exc)}); choose "
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


def offline_requested():
    """HF_HUB_OFFLINE, read as huggingface_hub reads it."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the folder {folder} ({_reason(exc)}); choose "
            "another out_dir"
        ) from exc


# The tokenizer ---------------------------------------------------------------

def tokenizer_problem(path):
    """None if ``path`` holds Qwen3's tokenizer, else what is wrong."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest == QWEN3_TOKENIZER_SHA256:
        return None
    with open(path, "rb") as f:
        start = f.read(200).lstrip().lower()
    if start.startswith((b"<!doctype", b"<html", b"<")):
        return ("it is an HTML page, not the tokenizer (a login page, "
                "proxy or captive portal may have answered instead)")
    return "its sha256 differs from Qwen3's tokenizer.json"


def _ensure_tokenizer(path):
    _refuse_folder(path)
    if not path.is_file():
        with file_lock(path):
            if not path.is_file():  # nobody finished it while we waited
                return _fetch_tokenizer(path)
    problem = tokenizer_problem(path)
    if problem is None:
        print(f"✓ {path} already present")
        return path
    raise InvalidFileError(
        f"{path} is not the Qwen3 tokenizer: {problem}. Delete the "
        "file and run again: it is then downloaded (or rebuilt "
        "offline)."
    )


def _fetch_tokenizer(path):
    errors = _download(path, _verify_tokenizer)
    if errors is None:
        return path
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


def _verify_tokenizer(path):
    problem = tokenizer_problem(path)
    if problem is not None:
        raise ValueError(problem)


# The weights -----------------------------------------------------------------

def _ensure_weights(path):
    _refuse_folder(path)
    if path.is_file() and _keep_weights(path):
        return path
    with file_lock(path):
        # Another process may have finished the file while we waited
        if path.is_file() and _keep_weights(path, quiet=True):
            return path
        if random_weights_requested() and not path.is_file():
            try:
                write_random_checkpoint(path, checkpoint.EXPECTED_CONFIG,
                                        replace=False)
            except FileExistsError:  # copied in by hand meanwhile
                print(f"{path} appeared while random weights were being "
                      "written: keeping it")
                if _keep_weights(path):
                    return path
            else:
                _print_random_banner(path)
                return path
        errors = _download(path, _verify_weights)
    if errors is None:
        return path
    raise WeightsNotAvailableError(_weights_help(path, errors))


def _keep_weights(path, quiet=False):
    """True if the checkpoint at ``path`` is the one to use; False for
    random weights when the real ones are wanted (they are downloaded over
    it). A file that is no Qwen3 checkpoint raises ``InvalidFileError``."""
    say = (lambda *args: None) if quiet else print
    try:
        check_checkpoint(path, read_values=False)
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
    say(f"{path} holds RANDOM weights written in random-weights mode, and "
        f"{RANDOM_WEIGHTS_ENV} is not set: downloading the real weights to "
        "replace them.")
    return False


def _verify_weights(path):
    try:
        check_checkpoint(path, read_values=True)
    except CheckpointError as exc:
        raise ValueError(str(exc)) from exc


# Downloading -----------------------------------------------------------------

def _download(path, verify):
    """Fetch ``path.name`` into ``path``; return None or the errors seen."""
    if offline_requested():
        return ["HF_HUB_OFFLINE is set, so no download was tried"]
    _check_endpoint()
    errors = []
    for url in file_urls(path.name):
        try:
            download_file(url, path, verify=verify)
            return None
        except DownloadError as exc:
            errors.append(str(exc))
            print(f"Download failed: {exc}")
    return errors


def download_file(url, dest, timeout=None, verify=None):
    """Download ``url`` to ``dest``, resuming an interrupted download.

    The bytes go to a hidden ``.<name>.part`` file beside ``dest``, with
    the URL and the server's ETag/Last-Modified in ``.<name>.part.json``.
    Only a complete part file that passes ``verify`` (a function that
    raises ``ValueError`` for a bad file) is renamed to ``dest``. After a
    network failure the part file stays, and the next call asks the same
    URL for the missing bytes only. Raises ``DownloadError``.
    """
    dest = Path(dest)
    _make_folder(dest.parent)
    part = dest.with_name(f".{dest.name}.part")
    meta = dest.with_name(f".{dest.name}.part.json")
    for path in (part, meta):
        if path.is_symlink():  # never write through it: remove the link
            print(f"{path} is a symbolic link: removed it (the file it "
                  "points to is left as it was)")
            path.unlink()
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    pause = RETRY_PAUSE
    for attempt in range(1, RETRIES + 2):
        try:
            _fetch(url, part, meta, timeout)
            break
        except _Retry as exc:
            have = part.stat().st_size if part.is_file() else 0
            if attempt > RETRIES:
                resume = (f"; run again to resume from byte {have}"
                          if have else "")
                raise DownloadError(
                    f"{url}: {exc} (tried {attempt} times{resume})"
                ) from None
            print(f"{dest.name}: {exc}; trying again in {pause:g} s "
                  f"({attempt}/{RETRIES})")
            time.sleep(pause)
            pause *= 2
    expected = sha256_from_etag(_read_state(meta).get("etag"))
    if expected is not None and _sha256(part) != expected:
        _discard(part, meta)
        raise DownloadError(
            f"{url}: the downloaded file's sha256 differs from the one the "
            "server published (its ETag); it was deleted: run again"
        )
    if verify is not None:
        try:
            verify(part)
        except ValueError as exc:
            _discard(part, meta)
            raise DownloadError(
                f"{url}: the downloaded file is not {dest.name}: {exc}; "
                "it was deleted"
            ) from exc
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    return dest


def sha256_from_etag(etag):
    """The sha256 an ETag publishes, or None. The Hub's ETag of a large
    (LFS) file is its sha256, in quotes; other servers' ETags are opaque
    (and weak ones, ``W/"..."``, never name the bytes)."""
    value = (etag or "").strip()
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url, part, meta, timeout):
    """One attempt: fetch what ``part`` is missing. Raises ``_Retry`` for
    failures worth another attempt, ``DownloadError`` for the others."""
    state = _read_state(meta)
    done = part.stat().st_size if part.is_file() else 0
    if done and state.get("url") != url:  # begun elsewhere: start over
        _discard(part, meta)
        done, state = 0, {}
    if done and done == state.get("total"):
        return  # complete already (stopped before the rename)

    headers = {}
    if done:
        headers["Range"] = f"bytes={done}-"
        validator = state.get("etag") or state.get("last_modified")
        if validator:  # the rest only if the file did not change
            headers["If-Range"] = validator
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # nothing after byte `done`
            size = exc.headers.get("Content-Range", "").rpartition("/")[2]
            if size == str(done):  # the part file is the whole file
                return
            _discard(part, meta)
            raise _Retry("the server refused to resume; starting over") \
                from None
        if exc.code in RETRY_STATUS:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        if _name_unknown(exc):  # offline, or a typo in HF_ENDPOINT
            raise DownloadError(f"{url}: {_reason(exc)}") from None
        raise _Retry(_reason(exc)) from None

    with response:
        if response.status == 206:
            start, total = _content_range(response)
            if start != done or (state.get("total") not in (None, total)):
                _discard(part, meta)
                raise _Retry(
                    f"the server sent bytes from {start} of a {total}-byte "
                    f"file, not from {done} of the file begun; starting "
                    "over"
                )
        else:  # the whole file: start over
            done = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        _write_state(meta, {
            "url": url, "total": total,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        })
        size = _copy(response, part, done, total)
    if total is not None and size != total:
        raise _Retry(f"connection closed after {size} of {total} bytes")


def _content_range(response):
    """(first byte, total size) from a 206's ``Content-Range`` header;
    (-1, None) if it is missing or malformed."""
    value = response.headers.get("Content-Range", "")
    try:
        unit, spec = value.split(" ", 1)
        span, total = spec.split("/")
        first, last = (int(n) for n in span.split("-"))
        total = int(total)
    except ValueError:
        return -1, None
    if unit != "bytes" or last != total - 1:
        return -1, None
    return first, total


def _copy(response, part, done, total):
    """Append the body to ``part`` (or write it anew when ``done`` is 0),
    printing progress; return the part file's size."""
    name = part.name.removeprefix(".").removesuffix(".part")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if done else os.O_TRUNC)
    try:
        f = os.fdopen(os.open(part, flags | NO_FOLLOW, 0o666), "ab" if done
                      else "wb")
    except OSError as exc:
        raise DownloadError(f"cannot write {part}: {_reason(exc)}") from exc
    with f:
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(_reason(exc)) from None
            if not chunk:
                break
            try:
                f.write(chunk)
            except OSError as exc:
                raise DownloadError(
                    f"cannot write {part}: {_reason(exc)}"
                ) from exc
            done += len(chunk)
            if total:
                sys.stdout.write(
                    f"\r{name}: {done * 100 // total:3d}% "
                    f"({done // 2**20} MiB / {total // 2**20} MiB)"
                )
                sys.stdout.flush()
        if total:
            sys.stdout.write("\n")
        return f.tell()


def _read_state(meta):
    try:
        state = json.loads(meta.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(meta, state):
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NO_FOLLOW
    try:
        with os.fdopen(os.open(meta, flags, 0o666), "w") as f:
            f.write(json.dumps(state))
    except OSError as exc:
        raise DownloadError(f"cannot write {meta}: {_reason(exc)}") from exc


def _discard(part, meta):
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


def _name_unknown(exc):
    """True if the server's name does not exist for the resolver: asking
    again seconds later gives the same answer (a temporary resolver
    failure, EAI_AGAIN, is still tried again)."""
    reason = getattr(exc, "reason", exc)
    return (isinstance(reason, socket.gaierror)
            and reason.errno == socket.EAI_NONAME)


def _reason(exc):
    if isinstance(exc, urllib.error.URLError) and exc.reason is not None:
        exc = exc.reason if isinstance(exc.reason, Exception) else exc
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _weights_help(path, errors):
    primary, backup = file_urls(path.name)
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
