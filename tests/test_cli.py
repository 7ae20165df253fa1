"""ch02-generate end to end, in random-weights mode, in a subprocess."""

import os
import shutil
import subprocess

import pytest
import torch

from helpers import cli
from helpers.random_weights import write_random_checkpoint
from venv_tools import tool

SCRIPT = tool("ch02-generate")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer_path):
    folder = tmp_path_factory.mktemp("cli-qwen3")
    shutil.copy(tokenizer_path, folder / "tokenizer-base.json")
    write_random_checkpoint(folder / "qwen3-0.6B-base.pth")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # 1.5 GB


def run_cli(args, stdin="", random_weights=True, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("QWEN3_RANDOM_WEIGHTS", None)
    if random_weights:
        env["QWEN3_RANDOM_WEIGHTS"] = "1"
    return subprocess.run(
        [SCRIPT, *args], input=stdin, capture_output=True, text=True,
        env=env, timeout=timeout,
    )


def test_one_shot_prompt(model_dir):
    result = run_cli(["--prompt", "Explain large language models.",
                      "--max-new-tokens", "5", "--temperature", "0.8",
                      "--top-k", "50", "--top-p", "0.9", "--seed", "1",
                      "--device", "cpu", "--out-dir", str(model_dir)])
    assert result.returncode == 0, result.stderr
    assert "[5 tokens," in result.stderr
    assert "tokens/sec]" in result.stderr
    assert "RANDOM WEIGHTS" in result.stderr  # the banner is not hidden
    assert "RANDOM" not in result.stdout  # stdout holds only the text


def test_interactive_session_with_beam_search(model_dir):
    result = run_cli(["--max-new-tokens", "3", "--beam-width", "2",
                      "--out-dir", str(model_dir), "--device", "cpu"],
                     stdin="Hello\n\nSecond prompt\n/quit\nnever read\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("[3 tokens,") == 2
    assert result.stdout.count(">>> ") == 4  # the 4th reads /quit


def test_interactive_session_ends_at_end_of_input(model_dir):
    result = run_cli(["--max-new-tokens", "2", "--no-cache",
                      "--out-dir", str(model_dir)], stdin="Hi\n")
    assert result.returncode == 0, result.stderr
    assert "[2 tokens," in result.stderr


def test_missing_model_explains_what_to_do(tmp_path):
    result = run_cli(["--prompt", "Hi", "--out-dir", str(tmp_path)],
                     random_weights=False)
    assert result.returncode == 1
    assert "not available" in result.stderr
    assert "QWEN3_RANDOM_WEIGHTS=1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "-1"], "--temperature: must be >= 0"),
        (["--temperature", "warm"], "must be a number"),
        (["--top-k", "0", "--temperature", "1"], "--top-k: must be >= 1"),
        (["--top-p", "1.5", "--temperature", "1"], "--top-p: must be"),
        (["--max-new-tokens", "-3"], "--max-new-tokens: must be >= 0"),
        (["--beam-width", "3", "--temperature", "0.7"], "does not sample"),
        (["--beam-width", "3", "--no-cache"], "needs the KV cache"),
        (["--top-p", "0.9"], "only apply when sampling"),
        (["--stop", ""], "non-empty"),
        (["--kind", "chat"], "invalid choice"),
        (["--device", "tpu"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_code_2(args, message):
    result = run_cli(args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


class FakeTokenizer:
    eos_token_id = None

    def encode(self, text, chat_wrapped=None):
        return [1, 2]

    def decode(self, ids):
        return "".join(chr(ord("a") + i % 26) for i in ids)


def test_ctrl_c_stops_the_answer_not_the_program(monkeypatch, capsys):
    def interrupted_stream(*args, **kwargs):
        yield torch.tensor([[3]])
        yield torch.tensor([[4]])
        raise KeyboardInterrupt

    monkeypatch.setattr("helpers.decoding.generate_stream",
                        interrupted_stream)
    args = cli.build_parser().parse_args([])
    cli.run(None, FakeTokenizer(), torch.device("cpu"), "Hi", args, [],
            None)
    captured = capsys.readouterr()
    assert captured.out == "de\n"
    assert "[2 tokens," in captured.err and "(stopped)" in captured.err
