"""`jupyter lab` starts and serves the repository (over loopback)."""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from venv_tools import tool

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ch02-test-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


@pytest.mark.slow  # starts a Jupyter server and waits for it
def test_jupyter_lab_serves_the_chapter(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [tool("jupyter"), "lab",
         "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={ROOT}",
         f"--ServerApp.runtime_dir={tmp_path}"]
        # CI machines run as root, which Jupyter refuses unless told
        + (["--allow-root"] if os.name == "posix" and os.geteuid() == 0
           else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, body = get(
                    f"{base}/api/contents/ch02/01_main-chapter-code"
                    f"?token={TOKEN}"
                )
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, "jupyter lab exited"
                assert time.monotonic() < deadline, "no answer in 90 s"
                time.sleep(0.5)
        names = {item["name"] for item in json.loads(body)["content"]}
        assert status == 200
        assert "ch02_main.ipynb" in names
        status, page = get(f"{base}/lab?token={TOKEN}")
        assert status == 200 and b"JupyterLab" in page
    finally:
        server.terminate()
        server.wait(timeout=30)
