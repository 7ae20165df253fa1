"""The exercise checks accept correct solutions and explain wrong ones."""

import time

import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from helpers import (
    generate_text_basic_stream,
    generate_text_basic_stream_cache,
)
from helpers.exercise_checks import (
    check_streaming,
    check_token_table,
    check_tokens_per_second,
)
from helpers.timing import measure_generation, synchronize


def verdicts(capsys):
    """The one-line verdicts the checks printed since the last call."""
    return capsys.readouterr().out.splitlines()


def assert_passed(capsys):
    lines = verdicts(capsys)
    assert lines and all(line.startswith("✓") for line in lines), lines


def assert_explained(capsys, message):
    """The check failed, and its printed verdict names the problem."""
    lines = verdicts(capsys)
    assert len(lines) == 1 and lines[0].startswith("✗"), lines
    assert message in lines[0], lines


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)


# Exercise 2.1


def token_table(tokenizer, text):
    return [(i, tokenizer.decode([i])) for i in tokenizer.encode(text)]


def test_token_table_correct(tokenizer, capsys):
    check_token_table(token_table, tokenizer)
    assert_passed(capsys)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda tok, text: [tok.decode([i]) for i in tok.encode(text)],
         "token ids should be"),
        (lambda tok, text: [(i, tok.decode(tok.encode(text)))
                            for i in tok.encode(text)],
         "decode each id on its own"),
        (lambda tok, text: "not a list", "return a list"),
        (lambda tok, text: [(i, tok.decode([i]))
                            for i in tok.encode(text.lower())],
         "token ids should be"),
    ],
)
def test_token_table_wrong(tokenizer, capsys, wrong, message):
    check_token_table(wrong, tokenizer)
    assert_explained(capsys, message)


def test_unfinished_exercise_is_not_an_error(tokenizer, capsys):
    def token_table(tokenizer, text):
        raise NotImplementedError

    check_token_table(token_table, tokenizer)
    [line] = verdicts(capsys)
    assert line.startswith("…") and "not done yet" in line


# Exercise 2.2


@pytest.mark.parametrize(
    "solution", [generate_text_basic_stream, generate_text_basic_stream_cache]
)
def test_streaming_correct(solution, capsys):
    check_streaming(solution)
    assert_passed(capsys)


@torch.inference_mode()
def stream_yields_eos(model, token_ids, max_new_tokens, eos_token_id=None):
    for _ in range(max_new_tokens):
        next_token = model(token_ids)[:, -1].argmax(dim=-1, keepdim=True)
        yield next_token
        if eos_token_id is not None and torch.all(
            next_token == eos_token_id
        ):
            break
        token_ids = torch.cat([token_ids, next_token], dim=1)


@torch.inference_mode()
def stream_yields_ints(model, token_ids, max_new_tokens, eos_token_id=None):
    for token in generate_text_basic_stream(
        model, token_ids, max_new_tokens, eos_token_id
    ):
        yield token.item()


@torch.inference_mode()
def stream_forgets_appending(model, token_ids, max_new_tokens,
                             eos_token_id=None):
    for _ in range(max_new_tokens):
        yield model(token_ids)[:, -1].argmax(dim=-1, keepdim=True)


def not_a_generator(model, token_ids, max_new_tokens, eos_token_id=None):
    return list(generate_text_basic_stream(model, token_ids, max_new_tokens))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (stream_yields_eos, "stop before yielding EOS"),
        (stream_yields_ints, "(batch, 1) tensor"),
        (stream_forgets_appending, "expected tokens"),
        (not_a_generator, "must `yield`"),
    ],
)
def test_streaming_wrong(wrong, message, capsys):
    check_streaming(wrong)
    assert_explained(capsys, message)


# Exercise 2.3


def tokens_per_second(generate_fn, model, token_ids, max_new_tokens, device):
    synchronize(device)
    start = time.perf_counter()
    out = generate_fn(model, token_ids, max_new_tokens)
    synchronize(device)
    return out.numel() / (time.perf_counter() - start)


def test_tokens_per_second_correct(capsys):
    check_tokens_per_second(tokens_per_second)
    assert_passed(capsys)


def test_reference_measurement_passes_the_check(capsys):
    def via_helper(generate_fn, model, token_ids, max_new_tokens, device):
        result = measure_generation(
            generate_fn, model, token_ids, max_new_tokens
        )
        return result["tokens_per_sec"]

    check_tokens_per_second(via_helper)
    assert_passed(capsys)


def counts_prompt(generate_fn, model, token_ids, max_new_tokens, device):
    start = time.perf_counter()
    out = generate_fn(model, token_ids, max_new_tokens)
    total = out.numel() + token_ids.numel()
    return total / (time.perf_counter() - start)


def returns_seconds(generate_fn, model, token_ids, max_new_tokens, device):
    start = time.perf_counter()
    generate_fn(model, token_ids, max_new_tokens)
    return time.perf_counter() - start


def calls_twice(generate_fn, model, token_ids, max_new_tokens, device):
    generate_fn(model, token_ids, max_new_tokens)  # a warm-up run
    return tokens_per_second(
        generate_fn, model, token_ids, max_new_tokens, device
    )


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (counts_prompt, "not the prompt tokens"),
        (returns_seconds, "not seconds/token"),
        (calls_twice, "exactly once"),
    ],
)
def test_tokens_per_second_wrong(wrong, message, capsys):
    check_tokens_per_second(wrong)
    assert_explained(capsys, message)


def test_unfinished_stream_stub_is_not_done_yet(capsys):
    def my_generate_stream(model, token_ids, max_new_tokens,
                           eos_token_id=None):
        raise NotImplementedError

    check_streaming(my_generate_stream)
    [line] = verdicts(capsys)
    assert line.startswith("…") and "not done yet" in line
