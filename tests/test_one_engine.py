"""One decoding loop, two backends: every option gives the same tokens on
the book's model (with and without its KV cache) and on FastGenerator,
in float32; the options are checked once, in GenerationConfig."""

import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from helpers import FastGenerator, beam_search, generate, left_pad
from helpers.decoding import generate_stream
from helpers.decoding.config import GenerationConfig
from helpers.tiny_model import tiny_qwen3_model

PROMPTS = [[5, 9, 14, 3, 7, 22], [8, 1], [40, 2, 3], [17]]
N_NEW = 16


@pytest.fixture(scope="module")
def model():
    return tiny_qwen3_model(seed=3)


@pytest.fixture(scope="module")
def fast(model):
    return FastGenerator(model, max_seq_len=32, max_batch_size=4,
                         compile=False)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)


@pytest.fixture(scope="module")
def batch():
    return left_pad(PROMPTS, pad_token_id=0)


@pytest.fixture(scope="module")
def free(model, batch):
    """What greedy decoding gives, to choose EOS ids and stop texts that
    really end rows early."""
    token_ids, attention_mask = batch
    return generate(model, token_ids, N_NEW,
                    attention_mask=attention_mask).tolist()


def option_grid(free, tokenizer):
    """(name, options): greedy, sampling with each filter, the penalty,
    EOS ids, stop sequences and stop strings."""
    seeded = {"generator": torch.Generator().manual_seed(7)}
    stop_text = tokenizer.decode(free[0][4:6])  # spans two tokens
    return [
        ("greedy", {}),
        ("temperature", {"temperature": 0.8, **seeded}),
        ("top_k", {"temperature": 1.0, "top_k": 10, **seeded}),
        ("top_p", {"temperature": 0.9, "top_p": 0.8, **seeded}),
        ("min_p", {"temperature": 1.2, "min_p": 0.1, **seeded}),
        ("repetition_penalty", {"repetition_penalty": 1.3}),
        ("penalty_and_filters", {"temperature": 0.7, "top_k": 20,
                                 "top_p": 0.95, "repetition_penalty": 1.2,
                                 **seeded}),
        ("eos_list", {"eos_token_id": [free[1][3], free[2][6]]}),
        ("stop_sequences", {"stop_sequences": [free[3][2:4]],
                            "pad_token_id": 0}),
        ("stop_strings", {"stop_strings": [stop_text],
                          "tokenizer": tokenizer, "pad_token_id": 0}),
    ]


def fresh(options):
    """The options with a new generator in the same state: each backend
    draws the same numbers."""
    options = dict(options)
    if "generator" in options:
        options["generator"] = torch.Generator().manual_seed(7)
    return options


NAMES = ["greedy", "temperature", "top_k", "top_p", "min_p",
         "repetition_penalty", "penalty_and_filters", "eos_list",
         "stop_sequences", "stop_strings"]
BEAMS = ["beam_width_1", "beam_width_2", "beam_width_4"]


@pytest.mark.parametrize("name", NAMES + BEAMS)
def test_every_option_gives_the_same_tokens_on_both_backends(
    model, fast, batch, free, tokenizer, name
):
    if name in BEAMS:  # one prompt (beam search takes one), its EOS
        width = int(name.rsplit("_", 1)[1])
        prompt = torch.tensor([PROMPTS[0]])
        options = {"beam_width": width, "eos_token_id": free[0][3]}
        expected, score = beam_search(model, prompt, 10, **options)
        got, fast_score = beam_search(fast, prompt, 10, **options)
        assert torch.equal(got, expected)
        assert fast_score == pytest.approx(score, abs=1e-5)
        return
    options = dict(option_grid(free, tokenizer))[name]
    token_ids, attention_mask = batch
    expected = generate(model, token_ids, N_NEW,
                        attention_mask=attention_mask, **fresh(options))
    for engine, extra in [(model, {"use_cache": False}), (fast, {})]:
        got = generate(engine, token_ids, N_NEW,
                       attention_mask=attention_mask, **extra,
                       **fresh(options))
        assert torch.equal(got, expected), (name, type(engine).__name__)
        streamed = torch.cat(list(generate_stream(
            engine, token_ids, N_NEW, attention_mask=attention_mask,
            **extra, **fresh(options))), dim=1)
        assert torch.equal(streamed, expected), name
    # FastGenerator's own methods are the same loop
    assert torch.equal(fast.generate(token_ids, N_NEW,
                                     attention_mask=attention_mask,
                                     **fresh(options)), expected)
    if name in ("eos_list", "stop_sequences", "stop_strings"):
        # the rule really ended a row early: the text is not greedy's
        assert expected.tolist() != [row[:expected.shape[1]]
                                     for row in free], name


def test_the_grid_is_all_named(free, tokenizer):
    assert [name for name, _ in option_grid(free, tokenizer)] == NAMES


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("with_eos", [False, True])
def test_beam_search_gives_the_same_answer_on_both_backends(
    model, fast, free, width, with_eos
):
    prompt = torch.tensor([PROMPTS[0]])
    eos = free[0][3] if with_eos else None
    expected, score = beam_search(model, prompt, 10, beam_width=width,
                                  eos_token_id=eos)
    got, fast_score = beam_search(fast, prompt, 10, beam_width=width,
                                  eos_token_id=eos)
    assert torch.equal(got, expected)
    assert fast_score == pytest.approx(score, abs=1e-5)
    assert torch.equal(fast.beam_search(prompt, 10, beam_width=width,
                                        eos_token_id=eos)[0], expected)


def test_greedy_generate_after_beam_search_is_unchanged(model, fast):
    """Beam search reorders the static cache's rows; the next call starts
    from its own prefill."""
    expected = generate(model, torch.tensor(PROMPTS[:1]), 8)
    beam_search(fast, torch.tensor(PROMPTS[:1]), 6, beam_width=4)
    assert torch.equal(fast.generate(torch.tensor(PROMPTS[:1]), 8),
                       expected)


@pytest.mark.parametrize("name", ["greedy", "top_p", "repetition_penalty",
                                  "eos_list"])
def test_scores_are_the_same_on_both_backends(model, fast, batch, free,
                                              tokenizer, name):
    options = dict(option_grid(free, tokenizer))[name]
    token_ids, attention_mask = batch
    book = generate(model, token_ids, N_NEW, attention_mask=attention_mask,
                    output_scores=True, **fresh(options))
    ours = generate(fast, token_ids, N_NEW, attention_mask=attention_mask,
                    output_scores=True, **fresh(options))
    assert torch.equal(ours.sequences, book.sequences)
    torch.testing.assert_close(ours.scores, book.scores)
    assert book.scores.shape == book.sequences.shape
    assert torch.all(book.scores <= 0)


def test_fast_backend_refuses_use_cache_false(fast):
    with pytest.raises(ValueError, match="always uses its KV cache"):
        generate(fast, torch.tensor([[1, 2]]), 3, use_cache=False)


def test_beam_search_needs_room_for_its_beams(model):
    fast = FastGenerator(model, max_seq_len=16, max_batch_size=2,
                         compile=False)
    with pytest.raises(ValueError, match="max_batch_size=4 or more"):
        beam_search(fast, torch.tensor([[1, 2]]), 3, beam_width=4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_beams": 2, "temperature": 0.7},
         r"beam search \(num_beams=2\) does not go with temperature"),
        ({"num_beams": 3, "top_p": 0.9, "stop_strings": ["\n"]},
         "does not go with top_p, stop_strings"),
        ({"num_beams": 2, "repetition_penalty": 1.2},
         "does not go with repetition_penalty"),
        ({"output_scores": 1}, "output_scores must be True or False"),
        ({"pad_token_id": "<pad>"}, "pad_token_id must be an int"),
        ({"stop_strings": "\n\n", "temperature": -1}, "temperature"),
    ],
)
def test_options_that_do_not_go_together_fail_in_one_line(options,
                                                          message):
    with pytest.raises((ValueError, TypeError), match=message):
        GenerationConfig(10, **options)


def test_a_config_is_checked_once_and_keeps_its_values():
    config = GenerationConfig(5, eos_token_id=7, stop_sequences=iter([[1,
                                                                        2]]))
    assert config.eos == (7,) and config.sequences == [[1, 2]]
    assert config.pad == 7 and not config.do_sample
    with pytest.raises(AttributeError):
        config.temperature = 1.0  # frozen: checked values stay checked
