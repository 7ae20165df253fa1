"""ch02-generate end to end, in random-weights mode, in a subprocess."""

import io
import os
import shutil
import signal
import subprocess
import time

import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from helpers import cli
from helpers.chat import Conversation
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


def environment(random_weights=True, **extra):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **extra}
    env.pop("QWEN3_RANDOM_WEIGHTS", None)
    if random_weights:
        env["QWEN3_RANDOM_WEIGHTS"] = "1"
    return env


def run_cli(args, stdin="", random_weights=True, timeout=300, **env):
    return subprocess.run(
        [SCRIPT, *args], input=stdin, capture_output=True, text=True,
        env=environment(random_weights, **env), timeout=timeout,
        encoding="utf-8",
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


def test_stop_text_cuts_the_answer_right_after_it(model_dir):
    result = run_cli(["--prompt", "Hello", "--max-new-tokens", "200",
                      "--stop", "e", "--out-dir", str(model_dir),
                      "--device", "cpu"])
    assert result.returncode == 0, result.stderr
    text = result.stdout.removesuffix("\n")
    assert text.endswith("e") and text.count("e") == 1, text


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


def test_chat_keeps_the_conversation_and_drops_old_turns(model_dir):
    messages = ["Hi there", "Tell me more", "And then?", "One more",
                "/reset", "New start", "/quit"]
    result = run_cli(["--chat", "--max-new-tokens", "8",
                      "--context-length", "64", "--out-dir", str(model_dir),
                      "--device", "cpu"], stdin="\n".join(messages) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("tokens/sec]") == 5
    assert "[dropped the 1 oldest turn to fit the 64-token context]" in (
        result.stderr
    )
    assert "[new conversation]" in result.stderr


def test_interactive_error_is_reported_and_the_session_goes_on(model_dir):
    long_prompt = "word " * 80
    result = run_cli(["--max-new-tokens", "4", "--context-length", "40",
                      "--out-dir", str(model_dir), "--device", "cpu"],
                     stdin=f"{long_prompt}\nShort one\n")
    assert result.returncode == 0, result.stderr
    error = [line for line in result.stderr.splitlines()
             if line.startswith("ch02-generate: error:")]
    assert len(error) == 1 and "shorten it" in error[0]
    assert "[4 tokens," in result.stderr  # the next prompt was answered
    assert "Traceback" not in result.stderr


def test_one_shot_prompt_longer_than_the_context_exits_2(model_dir):
    result = run_cli(["--prompt", "word " * 80, "--context-length", "40",
                      "--max-new-tokens", "4", "--out-dir", str(model_dir),
                      "--device", "cpu"])
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ch02-generate: error: the prompt has")
    assert "Traceback" not in result.stderr


def test_missing_model_explains_what_to_do(tmp_path):
    result = run_cli(["--prompt", "Hi", "--out-dir", str(tmp_path),
                      "--device", "cpu"], random_weights=False)
    assert result.returncode == 1
    assert "not available" in result.stderr
    assert "QWEN3_RANDOM_WEIGHTS=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_checkpoint_is_one_line_and_exit_1(tmp_path,
                                                   tokenizer_path):
    shutil.copy(tokenizer_path, tmp_path / "tokenizer-base.json")
    (tmp_path / "qwen3-0.6B-base.pth").write_bytes(b"\x00garbage" * 100)
    result = run_cli(["--prompt", "Hi", "--out-dir", str(tmp_path),
                      "--device", "cpu"], random_weights=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "is not a Qwen3 0.6B checkpoint" in last
    assert "Delete the file" in last
    assert "Traceback" not in result.stderr


def test_html_instead_of_the_tokenizer_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "tokenizer-base.json").write_text("<html>portal</html>")
    result = run_cli(["--prompt", "Hi", "--out-dir", str(tmp_path),
                      "--device", "cpu"])
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "is not the Qwen3 tokenizer: it is an HTML page" in last
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs no CUDA")
def test_unavailable_device_fails_before_loading(model_dir):
    start = time.perf_counter()
    result = run_cli(["--prompt", "Hi", "--device", "cuda",
                      "--out-dir", str(model_dir)])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device cuda: no such device" in lines[0]
    assert time.perf_counter() - start < 30  # nothing was loaded


def test_ctrl_c_while_loading_exits_quietly_with_130(model_dir):
    process = subprocess.Popen(
        [SCRIPT, "--prompt", "Hi", "--out-dir", str(model_dir),
         "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=environment(), text=True,
    )
    # The tokenizer's line comes just before the weights are loaded
    for line in process.stderr:
        if "tokenizer-base.json" in line:
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err


def test_non_utf8_stdout_does_not_crash(model_dir):
    result = run_cli(["--prompt", "東京の天気は", "--max-new-tokens", "20",
                      "--out-dir", str(model_dir), "--device", "cpu"],
                     PYTHONIOENCODING="cp1252")
    assert result.returncode == 0, result.stderr
    assert "UnicodeEncodeError" not in result.stderr


def test_make_utf8_rewraps_a_narrow_stream():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="cp1252")
    cli.make_utf8(stream)
    stream.write("東京 🙂")
    stream.flush()
    assert raw.getvalue().decode("utf-8") == "東京 🙂"


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
        (["--beam-width", "3", "--stop", "\n"], "not with --beam-width"),
        (["--top-p", "0.9"], "only apply when sampling"),
        (["--stop", ""], "non-empty"),
        (["--prompt", ""], "--prompt: give some text"),
        (["--prompt", "   "], "--prompt: give some text"),
        (["--seed", str(2**70)], "--seed: must be between 0 and"),
        (["--seed", "-1"], "--seed: must be between 0 and"),
        (["--context-length", "0"], "--context-length: must be >= 1"),
        (["--context-length", "50", "--max-new-tokens", "50"],
         "must be smaller than --context-length"),
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
    eos_token_id = 0

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
    text, stopped = cli.run(None, FakeTokenizer(), torch.device("cpu"),
                            [1, 2], args, None, None)
    captured = capsys.readouterr()
    assert (text, stopped) == ("de", True)
    assert captured.out == "de\n"
    assert "[2 tokens," in captured.err and "(stopped)" in captured.err


def test_chat_stops_at_im_end_and_at_the_tokenizers_eos(tokenizer_path):
    tokenizer = Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)

    class Model:
        cfg = {"context_length": 40_960}

    args = cli.build_parser().parse_args(["--chat"])
    session = cli.Session(Model(), tokenizer, torch.device("cpu"), args)
    assert session.eos == [151643, 151645]  # <|endoftext|>, <|im_end|>
    plain = cli.Session(Model(), tokenizer, torch.device("cpu"),
                        cli.build_parser().parse_args([]))
    assert plain.eos == 151643


def test_conversation_renders_the_whole_history(tokenizer_path):
    tokenizer = Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)
    chat = Conversation(tokenizer)
    first, _ = chat.prompt_ids("Hi", budget=1000)
    single = Qwen3Tokenizer(tokenizer_file_path=tokenizer_path,
                            apply_chat_template=True,
                            add_generation_prompt=True)
    assert first == single.encode("Hi")  # one turn: Qwen3Tokenizer's
    chat.add("Hi", "<think>\nhmm\n</think>\n\nHello!")
    ids, dropped = chat.prompt_ids("How are you?", budget=1000)
    assert dropped == 0
    assert tokenizer.decode(ids) == (
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nHow are you?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    short, dropped = chat.prompt_ids("How are you?", budget=len(ids) - 1)
    assert dropped == 1 and chat.turns == []
    assert len(short) < len(ids)
    with pytest.raises(ValueError, match="this message needs"):
        chat.prompt_ids("How are you?", budget=5)
