"""ch02-generate: its behaviour in-process with a small model (the real
tokenizer, 2 narrow layers), and end to end in a subprocess where a
process of its own matters: the installed command on the full-size
checkpoint, Ctrl+C while loading, a narrow standard output."""

import io
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer
from small_model import SMALL_QWEN3_CONFIG

from helpers.cli import command as cli
from helpers.cli.chat import Conversation
from helpers.files.random_weights import write_random_checkpoint
from venv_tools import tool

SCRIPT = tool("ch02-generate")
SMALL_CLI = [sys.executable, os.path.join(os.path.dirname(__file__),
                                          "small_model.py")]


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory, tokenizer_path):
    """The tokenizer and a random checkpoint of the small model."""
    folder = tmp_path_factory.mktemp("cli-small")
    shutil.copy(tokenizer_path, folder / "tokenizer-base.json")
    write_random_checkpoint(folder / "qwen3-0.6B-base.pth",
                            SMALL_QWEN3_CONFIG)
    return folder


@pytest.fixture
def small_model(monkeypatch):
    """No downloads: the small model's files are made locally."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run_main(args, capsys, monkeypatch, stdin="", random_weights=True,
             cfg=None):
    """``ch02-generate ARGS`` in this process, on the model of ``cfg``
    (default Qwen3 0.6B): (exit code, out, err)."""
    if random_weights:
        monkeypatch.setenv("QWEN3_RANDOM_WEIGHTS", "1")
    if isinstance(stdin, str):
        stdin = io.StringIO(stdin)
    monkeypatch.setattr(sys, "stdin", stdin)
    try:
        code = cli.main(args, cfg)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_run(small_model, small_dir, capsys, monkeypatch, eager_fast_engine):
    """Run the command on the small model, in ``small_dir`` by default."""
    def run(args, stdin="", random_weights=True, out_dir=small_dir):
        return run_main([*args, "--out-dir", str(out_dir)], capsys,
                        monkeypatch, stdin, random_weights,
                        SMALL_QWEN3_CONFIG)

    return run


def environment(**extra):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QWEN3_RANDOM_WEIGHTS": "1",
           **extra}
    return env


def run_process(command, timeout=300, **env):
    return subprocess.run(
        command, capture_output=True, text=True, env=environment(**env),
        timeout=timeout, encoding="utf-8",
    )


@pytest.mark.slow
def test_installed_command_on_the_full_size_checkpoint(full_size_dir):
    result = run_process(
        [SCRIPT, "--prompt", "Explain large language models.",
         "--max-new-tokens", "5", "--temperature", "0.8", "--top-k", "50",
         "--top-p", "0.9", "--seed", "1", "--device", "cpu",
         "--engine", "book", "--out-dir", str(full_size_dir)])
    assert result.returncode == 0, result.stderr
    assert "[5 tokens," in result.stderr
    assert "tokens/sec, book engine]" in result.stderr
    assert "RANDOM WEIGHTS" in result.stderr  # the banner is not hidden
    assert "The model runs in" in result.stderr  # the dtype and why
    assert "RANDOM" not in result.stdout  # stdout holds only the text


def test_one_shot_prompt(cli_run):
    code, out, err = cli_run(["--prompt", "Explain large language models.",
                              "--max-new-tokens", "5", "--temperature",
                              "0.8", "--top-k", "50", "--top-p", "0.9",
                              "--seed", "1", "--device", "cpu"])
    assert code == 0, err
    assert "[5 tokens," in err and "tokens/sec, fast engine]" in err
    assert "RANDOM WEIGHTS" in err
    assert "RANDOM" not in out


def test_min_p_and_repetition_penalty_reach_the_loop(cli_run, monkeypatch):
    from helpers import decoding

    seen = {}
    real = decoding.generate_stream

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(decoding, "generate_stream", spy)
    code, _, err = cli_run(["--prompt", "Hi", "--max-new-tokens", "3",
                            "--temperature", "0.8", "--min-p", "0.05",
                            "--repetition-penalty", "1.3", "--seed", "1",
                            "--device", "cpu"])
    assert code == 0, err
    config = seen["config"]  # the one GenerationConfig, built once
    assert config.min_p == 0.05 and config.repetition_penalty == 1.3


@pytest.mark.slow  # compiles the small model's decoding step
def test_the_default_engine_compiles_and_answers_as_the_book(
    small_model, small_dir, capsys, monkeypatch
):
    """No --engine: the fast engine, compiled for real, gives the book
    engine's greedy answer (the stats line names each engine)."""
    from helpers import fast

    made = []
    real = fast.FastGenerator

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(fast, "FastGenerator", spy)
    args = ["--prompt", "Hi", "--max-new-tokens", "6", "--device", "cpu",
            "--dtype", "float32", "--out-dir", str(small_dir)]
    code, book, err = run_main([*args, "--engine", "book"], capsys,
                               monkeypatch, cfg=SMALL_QWEN3_CONFIG)
    assert code == 0, err
    assert "tokens/sec, book engine]" in err and not made
    code, out, err = run_main(args, capsys, monkeypatch,
                              cfg=SMALL_QWEN3_CONFIG)
    assert code == 0, err
    assert "tokens/sec, fast engine]" in err and "[compiled in" in err
    assert "--engine book answers without it]" in err  # the way around
    assert len(made) == 1 and made[0].compiled, err
    assert made[0].max_seq_len == 512  # the smallest cache it makes
    assert out == book


def test_fast_and_book_engines_give_the_same_answers(cli_run):
    """Every option on both engines (the fast step run eagerly here)."""
    base = ["--max-new-tokens", "8", "--device", "cpu", "--dtype",
            "float32"]
    for options in (["--prompt", "Hi"],
                    ["--prompt", "Hi", "--temperature", "0.9", "--top-p",
                     "0.9", "--min-p", "0.02", "--repetition-penalty",
                     "1.2", "--seed", "3"],
                    ["--prompt", "Hi", "--stop", "e"],
                    ["--prompt", "Hi", "--beam-width", "3"]):
        code, book, err = cli_run([*base, *options, "--engine", "book"])
        assert code == 0, err
        code, fast, err = cli_run([*base, *options])
        assert code == 0, err
        assert "fast engine]" in err
        assert fast == book, options


def test_without_torch_compile_the_book_loop_answers(cli_run,
                                                     monkeypatch):
    from helpers import compile_support

    def fails(device):
        print("torch.compile does not work here (no compiler).")
        return False

    monkeypatch.setattr(compile_support, "torch_compile_works", fails)
    code, out, err = cli_run(["--prompt", "Hi", "--max-new-tokens", "3",
                              "--device", "cpu"])
    assert code == 0, err
    assert "torch.compile does not work here" in err  # not in the answer
    assert "the book's loop answers instead" in err
    assert "tokens/sec, book engine]" in err


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_dtype_is_the_one_asked_for(cli_run, monkeypatch, dtype):
    loaded = []
    real_load = cli.load

    def spy(args, device, chosen):
        model, tokenizer = real_load(args, device, chosen)
        loaded.append((chosen, model.out_head.weight.dtype,
                       model.cfg["dtype"]))
        return model, tokenizer

    monkeypatch.setattr(cli, "load", spy)
    code, _, err = cli_run(["--prompt", "Hi", "--max-new-tokens", "2",
                            "--dtype", dtype, "--device", "cpu"])
    assert code == 0, err
    wanted = getattr(torch, dtype)
    assert loaded == [(wanted, wanted, wanted)]
    assert "The model runs in" not in err  # nothing was chosen for you


def test_auto_dtype_says_what_it_chose_and_why(cli_run):
    code, _, err = cli_run(["--prompt", "Hi", "--max-new-tokens", "2",
                            "--device", "cpu"])
    assert code == 0, err
    line = next(line for line in err.splitlines()
                if line.startswith("The model runs in"))
    assert "this CPU" in line


@pytest.mark.parametrize("args, chosen", [
    ([], torch.bfloat16),  # decoding with the KV cache: bytes count
    (["--no-cache"], torch.float32),  # every step reads the whole text
])
def test_auto_dtype_is_chosen_for_the_work(cli_run, monkeypatch, args,
                                           chosen, avx2_only_timings):
    loaded = []
    real_load = cli.load
    monkeypatch.setattr(cli, "load", lambda a, device, dtype: (
        loaded.append(dtype) or real_load(a, device, dtype)))
    code, _, err = cli_run(["--prompt", "Hi", "--max-new-tokens", "2",
                            "--device", "cpu", *args])
    assert code == 0, err
    assert loaded == [chosen]


def test_float32_that_does_not_fit_fails_before_loading(cli_run,
                                                        monkeypatch):
    monkeypatch.setattr("helpers.dtype.free_memory_bytes",
                        lambda device: 10**6)
    monkeypatch.setattr(cli, "load", lambda *a: pytest.fail("loaded"))
    code, _, err = cli_run(["--prompt", "Hi", "--dtype", "float32"])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "--dtype float32: the model needs" in lines[0]
    assert "use bfloat16" in lines[0]


def test_stop_text_cuts_the_answer_right_after_it(cli_run):
    code, out, err = cli_run(["--prompt", "Hello", "--max-new-tokens", "200",
                              "--stop", "e", "--device", "cpu"])
    assert code == 0, err
    text = out.removesuffix("\n")
    assert text.endswith("e") and text.count("e") == 1, text


def test_interactive_session_with_beam_search(cli_run):
    stdin = "Hello\n\nSecond prompt\n/quit\nnever read\n"
    code, out, err = cli_run(["--max-new-tokens", "3", "--beam-width", "2",
                              "--device", "cpu"], stdin=stdin)
    assert code == 0, err
    assert err.count("[3 tokens,") == 2
    assert out.count(">>> ") == 4  # the 4th reads /quit


def test_interactive_session_ends_at_end_of_input(cli_run):
    code, _, err = cli_run(["--max-new-tokens", "2", "--no-cache"],
                           stdin="Hi\n")
    assert code == 0, err
    assert "[2 tokens," in err


def test_chat_keeps_the_conversation_and_drops_old_turns(cli_run):
    messages = ["Hi there", "Tell me more", "And then?", "One more",
                "/reset", "New start", "/quit"]
    code, _, err = cli_run(["--chat", "--max-new-tokens", "8",
                            "--context-length", "64", "--device", "cpu"],
                           stdin="\n".join(messages) + "\n")
    assert code == 0, err
    assert err.count("tokens/sec, fast engine]") == 5
    assert "[dropped the 1 oldest turn to fit the 64-token context]" in err
    assert "[new conversation]" in err


def test_interactive_error_is_reported_and_the_session_goes_on(cli_run):
    long_prompt = "word " * 80
    code, _, err = cli_run(["--max-new-tokens", "4", "--context-length",
                            "40", "--device", "cpu"],
                           stdin=f"{long_prompt}\nShort one\n")
    assert code == 0, err
    error = [line for line in err.splitlines()
             if line.startswith("ch02-generate: error:")]
    assert len(error) == 1 and "shorten it" in error[0]
    assert "[4 tokens," in err  # the next prompt was answered
    assert "Traceback" not in err


def test_one_shot_prompt_longer_than_the_context_exits_2(cli_run):
    code, _, err = cli_run(["--prompt", "word " * 80, "--context-length",
                            "40", "--max-new-tokens", "4", "--device",
                            "cpu"])
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("ch02-generate: error: the prompt has")
    assert "Traceback" not in err


def test_missing_model_explains_what_to_do(cli_run, tmp_path):
    code, _, err = cli_run(["--prompt", "Hi", "--device", "cpu"],
                           random_weights=False, out_dir=tmp_path)
    assert code == 1
    assert "not available" in err
    assert "QWEN3_RANDOM_WEIGHTS=1" in err
    assert "Traceback" not in err


def test_corrupt_checkpoint_is_one_line_and_exit_1(cli_run, tmp_path,
                                                   tokenizer_path):
    shutil.copy(tokenizer_path, tmp_path / "tokenizer-base.json")
    (tmp_path / "qwen3-0.6B-base.pth").write_bytes(b"\x00garbage" * 100)
    code, _, err = cli_run(["--prompt", "Hi", "--device", "cpu"],
                           random_weights=False, out_dir=tmp_path)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "is not a Qwen3 0.6B checkpoint" in last
    assert "Delete the file" in last
    assert "Traceback" not in err


def test_html_instead_of_the_tokenizer_is_one_line_and_exit_1(cli_run,
                                                              tmp_path):
    (tmp_path / "tokenizer-base.json").write_text("<html>portal</html>")
    code, _, err = cli_run(["--prompt", "Hi", "--device", "cpu"],
                           out_dir=tmp_path)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "is not the Qwen3 tokenizer: it is an HTML page" in last
    assert "Traceback" not in err


def test_malformed_hf_endpoint_is_one_line_and_exit_1(cli_run, tmp_path,
                                                      monkeypatch):
    # Before: a 32-line traceback from urllib
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "not a url")
    code, _, err = cli_run(["--prompt", "Hi", "--device", "cpu"],
                           out_dir=tmp_path)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "HF_ENDPOINT='not a url' is not a web address" in last
    assert "Traceback" not in err


def test_folder_in_place_of_the_tokenizer_is_one_line(cli_run, tmp_path):
    (tmp_path / "tokenizer-base.json").mkdir()
    code, _, err = cli_run(["--prompt", "Hi", "--device", "cpu"],
                           out_dir=tmp_path)
    assert code == 1
    assert "is a folder, where the file" in err.strip().splitlines()[-1]
    assert "Traceback" not in err


@pytest.mark.parametrize("device", ["cuda", "mps", "xpu"])
def test_unavailable_device_fails_before_loading(cli_run, monkeypatch,
                                                 device):
    try:
        torch.empty(1, device=device)
        pytest.skip(f"{device} is available here")
    except Exception:  # each backend fails in its own way
        pass
    monkeypatch.setattr(cli, "load", lambda *a: pytest.fail("loaded"))
    code, _, err = cli_run(["--prompt", "Hi", "--device", device])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and (f"--device {device}: no such device"
                                in lines[0])


@pytest.mark.slow
def test_ctrl_c_while_loading_exits_quietly_with_130(full_size_dir):
    # So many new tokens that the command cannot finish before the signal
    # even if this test is kept waiting on a busy machine (it once read the
    # banner only after the command had answered and exited 0); a signal
    # that comes during generation ends it with 130 too
    # Ctrl+C as in a terminal, even where the suite itself runs in the
    # background (`cmd &` without job control starts it ignoring SIGINT,
    # its children too, and Python then installs no KeyboardInterrupt)
    process = subprocess.Popen(
        [SCRIPT, "--prompt", "Hi", "--out-dir", str(full_size_dir),
         "--device", "cpu", "--max-new-tokens", "20000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=environment(), text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The random-weights banner comes just before the weights are loaded
    # (the tokenizer is already there, so no line names it)
    for line in process.stderr:
        if "RANDOM WEIGHTS" in line:
            break
    else:
        pytest.fail("the command ended without loading the weights")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err


@pytest.mark.slow  # a new process: imports torch, loads the model
def test_non_utf8_stdout_does_not_crash(small_dir):
    result = run_process(
        [*SMALL_CLI, "--prompt", "東京の天気は", "--max-new-tokens", "20",
         "--out-dir", str(small_dir), "--device", "cpu", "--engine", "book"],
        PYTHONIOENCODING="cp1252")
    assert result.returncode == 0, result.stderr
    assert "[20 tokens," in result.stderr
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
        (["--temperature", "-1"],
         "--temperature must be 0 or a number >= 1e-06"),
        (["--temperature", "warm"], "must be a number"),
        (["--top-k", "0", "--temperature", "1"],
         "--top-k must be an integer >= 1"),
        (["--top-p", "1.5", "--temperature", "1"],
         "--top-p must be a number with 0 < --top-p <= 1"),
        (["--max-new-tokens", "-3"], "--max-new-tokens must be >= 0"),
        (["--beam-width", "3", "--temperature", "0.7"],
         "beam search (--beam-width=3) does not go with --temperature"),
        (["--beam-width", "3", "--no-cache", "--engine", "book"],
         "needs the KV cache"),
        (["--no-cache", "--engine", "fast"], "--no-cache runs the book's"),
        (["--no-cache", "--compile"], "--no-cache runs the book's"),
        (["--compile", "--engine", "book"], "--compile is the fast engine"),
        (["--engine", "turbo"], "--engine: invalid choice"),
        (["--beam-width", "3", "--stop", "\n"], "does not go with --stop"),
        (["--top-p", "0.9"], "only apply when sampling"),
        (["--min-p", "0.1"], "only apply when sampling"),
        (["--min-p", "1.5", "--temperature", "1"],
         "--min-p must be a number with 0 <= --min-p <= 1"),
        (["--repetition-penalty", "0"],
         "--repetition-penalty must be a finite number >= 1e-06"),
        (["--repetition-penalty", "inf"],
         "--repetition-penalty must be a finite number >= 1e-06"),
        (["--repetition-penalty", "lots"], "must be a number"),
        (["--beam-width", "3", "--min-p", "0.1"], "does not go with --min-p"),
        (["--beam-width", "3", "--repetition-penalty", "1.2"],
         "does not go with --repetition-penalty"),
        (["--stop", ""], "--stop holds an empty string"),
        # Before, '' became the current folder, and files landed there
        (["--out-dir", ""], "--out-dir: '' is not a folder name"),
        (["--out-dir", "qw\x00en"], "is not a folder name"),
        (["--prompt", ""], "--prompt: give some text"),
        (["--prompt", "   "], "--prompt: give some text"),
        (["--seed", str(2**70)], "--seed: must be between 0 and"),
        (["--seed", "-1"], "--seed: must be between 0 and"),
        (["--context-length", "0"], "--context-length: must be >= 1"),
        (["--context-length", "50", "--max-new-tokens", "50"],
         "must be smaller than --context-length"),
        (["--kind", "chat"], "invalid choice"),
        (["--device", "tpu"], "invalid choice"),
        (["--dtype", "float16"], "--dtype: invalid choice: 'float16'"),
        (["--dtype", "bf16"], "--dtype: invalid choice"),
        # Before, these failed only after loading the model
        (["--max-new-tokens", "50000"], "--max-new-tokens (50000) must be "
         "smaller than the model's context length (40,960)"),
        # A byte that is not UTF-8 on a Linux command line: Python keeps
        # it as a lone surrogate, which the tokenizer cannot encode
        (["--prompt", "caf\udce9"], "--prompt holds bytes that are not "
         "UTF-8"),
        (["--prompt", "Hi", "--stop", "\udcff"], "--stop holds bytes"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_code_2(args, message, capsys,
                                                    monkeypatch):
    monkeypatch.setattr(cli, "load", lambda *a: pytest.fail("loaded"))
    code, out, err = run_main(args, capsys, monkeypatch)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert out == ""


@pytest.mark.parametrize("stdin", [None, "closed"])
def test_closed_standard_input_fails_before_loading(stdin, capsys,
                                                   monkeypatch):
    monkeypatch.setattr(cli, "load", lambda *a: pytest.fail("loaded"))
    if stdin == "closed":
        stdin = io.StringIO()
        stdin.close()
    monkeypatch.setattr(sys, "stdin", stdin)  # None: started with <&-
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--device", "cpu"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "standard input is closed" in lines[0]
    assert "--prompt TEXT" in lines[0]


def test_non_utf8_standard_input_ends_in_one_line(cli_run):
    stdin = io.TextIOWrapper(io.BytesIO(b"Hi\ncaf\xe9\n"),
                             encoding="utf-8")
    code, _, err = cli_run(["--max-new-tokens", "2", "--device", "cpu"],
                           stdin=stdin)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("ch02-generate: error: standard input is not "
                           "UTF-8 text (invalid continuation byte)")
    assert "Traceback" not in err


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
    parser = cli.build_parser()
    args = parser.parse_args([])
    args.config = cli.decoding_config(parser, args)
    text, stopped = cli.run(None, FakeTokenizer(), torch.device("cpu"),
                            [1, 2], args, None, None)
    captured = capsys.readouterr()
    assert (text, stopped) == ("de", True)
    assert captured.out == "de\n"
    assert "[2 tokens," in captured.err and ", stopped]" in captured.err


@pytest.mark.parametrize("where", ["load", "Session"])
def test_ctrl_c_before_the_answer_exits_quietly_with_130(cli_run,
                                                         monkeypatch, where):
    # While loading, and in the moment between loading and answering
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, where, interrupted)
    code, out, err = cli_run(["--prompt", "Hi", "--device", "cpu"])
    assert code == 130
    assert "Traceback" not in err and out == ""


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
