"""generate / generate_stream / beam_search on tiny and scripted models.

The comparisons with Hugging Face transformers are in
test_transformers_reference.py.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

from bad_input import BAD_IDS
from helpers import generate_text_basic
from helpers.decoding import (
    GenerationConfig,
    beam_search,
    generate,
    generate_stream,
)
from helpers.decoding.sampling import check_generator

PROMPT = torch.tensor([[1, 5, 9, 2, 7]])
BATCH = torch.tensor([[1, 5, 9, 2, 7], [3, 3, 8, 1, 4]])


def seeded(seed=42):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"temperature": 0.0},
        {"temperature": 1.3, "top_k": 1},
        {"temperature": 1.3, "top_p": 1e-9},
    ],
)
def test_greedy_settings_equal_the_book_loop(tiny_model, options,
                                              use_cache):
    expected = generate_text_basic(tiny_model, BATCH, 12)
    out = generate(tiny_model, BATCH, 12, use_cache=use_cache, **options)
    assert torch.equal(out, expected)


def book_loop_per_row(model, batch, n, eos):
    """The book's loop, one prompt at a time; rows that stop early are
    padded with EOS, as ``generate`` pads them."""
    rows = []
    for prompt in batch:
        row = generate_text_basic(model, prompt[None], n, eos)[0].tolist()
        rows.append(row)
    width = max(map(len, rows))
    return torch.tensor([row + [eos] * (width - len(row)) for row in rows])


def test_eos_in_one_row_matches_the_book_loop(tiny_model):
    free = generate_text_basic(tiny_model, BATCH, 12).tolist()
    eos = next(t for t in free[0] if t not in free[1])
    expected = book_loop_per_row(tiny_model, BATCH, 12, eos)
    out = generate(tiny_model, BATCH, 12, eos_token_id=eos)
    assert torch.equal(out, expected)


def test_several_eos_ids_stop_at_whichever_comes_first(tiny_model):
    free = generate_text_basic(tiny_model, PROMPT, 12)[0].tolist()
    first, later = free[3], free[7]
    stop = min(free.index(first), free.index(later))
    for eos in ([first, later], [later, first], (later, first)):
        out = generate(tiny_model, PROMPT, 12, eos_token_id=eos)
        assert out[0].tolist() == free[:stop]
    assert generate(tiny_model, PROMPT, 12, eos_token_id=[later])[
        0].tolist() == free[:free.index(later)]


class CountingModel(torch.nn.Module):
    """Wraps a model and records the shape of every forward call."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.calls = []

    def reset_kv_cache(self):
        self.model.reset_kv_cache()

    def forward(self, in_idx, cache=None):
        self.calls.append(tuple(in_idx.shape))
        return self.model(in_idx, cache=cache)


@pytest.mark.parametrize("use_cache", [True, False])
def test_no_forward_pass_after_the_last_token(tiny_model, use_cache):
    model = CountingModel(tiny_model)
    out = generate(model, PROMPT, 6, use_cache=use_cache)
    assert out.shape == (1, 6)
    assert len(model.calls) == 6  # one per token, none wasted
    if use_cache:
        assert model.calls == [(1, 5)] + [(1, 1)] * 5


def test_same_seed_same_output(tiny_model):
    kwargs = {"temperature": 1.0, "top_k": 20, "top_p": 0.9}
    first = generate(tiny_model, BATCH, 15, generator=seeded(), **kwargs)
    again = generate(tiny_model, BATCH, 15, generator=seeded(), **kwargs)
    other = generate(tiny_model, BATCH, 15, generator=seeded(7), **kwargs)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_cached_equals_uncached_when_sampling(tiny_model):
    kwargs = {"temperature": 1.0, "top_p": 0.95}
    cached = generate(tiny_model, BATCH, 15, generator=seeded(),
                      use_cache=True, **kwargs)
    uncached = generate(tiny_model, BATCH, 15, generator=seeded(),
                        use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)


def test_stream_equals_generate(tiny_model):
    kwargs = {"temperature": 0.8, "top_k": 10}
    streamed = torch.cat(list(generate_stream(
        tiny_model, BATCH, 10, generator=seeded(), **kwargs)), dim=1)
    assert torch.equal(
        streamed, generate(tiny_model, BATCH, 10, generator=seeded(),
                           **kwargs)
    )


def test_stop_sequence_ends_generation_and_is_kept(tiny_model):
    free = generate_text_basic(tiny_model, PROMPT, 12)[0].tolist()
    stop = free[3:5]
    # The first sequence is too long to complete within 12 tokens
    out = generate(tiny_model, PROMPT, 12, stop_sequences=[[0] * 40, stop])
    assert out[0].tolist() == free[:5]


@pytest.mark.parametrize("token", [-1, 64, 10**9])
def test_stop_sequences_outside_the_vocabulary_are_refused(tiny_model,
                                                            token):
    # Before, they were accepted and could never match
    with pytest.raises(ValueError, match=f"stop_sequences {token} is not a "
                       "token of the model's vocabulary"):
        generate(tiny_model, PROMPT, 4, stop_sequences=[[3], [token]])


def test_stop_sequences_from_a_generator_are_used(tiny_model):
    free = generate_text_basic(tiny_model, PROMPT, 12)[0].tolist()
    stops = (seq for seq in [free[3:5]])  # read once, when called
    out = generate(tiny_model, PROMPT, 12, stop_sequences=stops)
    assert out[0].tolist() == free[:5]


def test_stop_sequence_in_one_row_of_a_batch(tiny_model):
    free = generate_text_basic(tiny_model, BATCH, 10).tolist()
    # A two-token sequence that row 1 produces and row 0 does not
    stop = next(
        free[1][i:i + 2] for i in range(9)
        if all(free[0][j:j + 2] != free[1][i:i + 2] for j in range(9))
    )
    end = next(i + 2 for i in range(9) if free[1][i:i + 2] == stop)
    out = generate(tiny_model, BATCH, 10, stop_sequences=[stop],
                   pad_token_id=0)
    assert out[0].tolist() == free[0]
    assert out[1].tolist() == free[1][:end] + [0] * (10 - end)


def test_batch_with_stop_sequences_needs_a_pad_token(tiny_model):
    with pytest.raises(ValueError, match="pad_token_id"):
        generate(tiny_model, BATCH, 3, stop_sequences=[[1, 2]])


# Stop strings, with the real tokenizer


class ScriptedModel(torch.nn.Module):
    """A 'model' that continues any prompt with a fixed script of token
    ids: logit 10 for the scripted token, 0 for all others."""

    def __init__(self, script, prompt_length, vocab_size=151_936):
        super().__init__()
        self.script = script
        self.prompt_length = prompt_length
        self.cfg = {"n_layers": 1, "vocab_size": vocab_size,
                    "context_length": 4096}
        self.current_pos = 0

    def reset_kv_cache(self):
        self.current_pos = 0

    def forward(self, in_idx, cache=None):
        n = in_idx.shape[1]
        start = self.current_pos if cache is not None else 0
        if cache is not None:
            self.current_pos += n
        logits = torch.zeros(in_idx.shape[0], n, self.cfg["vocab_size"])
        for j in range(n):
            k = start + j + 1 - self.prompt_length  # the token to predict
            if 0 <= k < len(self.script):
                logits[:, j, self.script[k]] = 10.0
        return logits


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)


def scripted(tokenizer, prompt, continuation):
    prompt_ids = tokenizer.encode(prompt)
    script = tokenizer.encode(continuation)
    return ScriptedModel(script, len(prompt_ids)), torch.tensor(
        [prompt_ids]
    ), script


@pytest.mark.parametrize("use_cache", [True, False])
def test_stop_string_inside_one_token(tokenizer, use_cache):
    # ".\n\n" is one token (382): the ids of "\n\n" (271) never appear
    model, prompt, script = scripted(
        tokenizer, "Describe a cat.", " Cats purr.\n\nDogs bark loudly."
    )
    assert 382 in script and 271 not in script
    out = generate(model, prompt, 30, stop_strings=["\n\n"],
                   tokenizer=tokenizer, use_cache=use_cache)
    assert tokenizer.decode(out[0].tolist()) == " Cats purr.\n\n"
    ids_only = generate(model, prompt, 30, stop_sequences=[[271]],
                        use_cache=use_cache)
    assert ids_only.shape[1] == 30  # the id of "\n\n" never came


def test_stop_string_spanning_two_tokens(tokenizer):
    model, prompt, script = scripted(
        tokenizer, "Q: capital of France?", "\nA: Paris.\nQuestion: next"
    )
    pieces = [tokenizer.decode([i]) for i in script]
    assert "Question" in pieces and ":" in pieces  # two tokens
    out = generate(model, prompt, 30, stop_strings=["Question:"],
                   tokenizer=tokenizer)
    assert tokenizer.decode(out[0].tolist()) == "\nA: Paris.\nQuestion:"


def test_stop_string_that_begins_in_the_prompt(tokenizer):
    # The prompt ends with "\n", the first new token adds the second one
    model, prompt, _ = scripted(tokenizer, "A list:\n", "\nmore text")
    out = generate(model, prompt, 10, stop_strings=["\n\n"],
                   tokenizer=tokenizer)
    assert out.shape[1] == 1


def test_stop_string_in_one_row_of_a_batch(tokenizer):
    first = tokenizer.encode(" one two three four five six")
    second = tokenizer.encode(" alpha. beta gamma delta")

    model = ScriptedModel(first, 1)
    other = ScriptedModel(second, 1)

    class Batch(torch.nn.Module):
        cfg = model.cfg

        def reset_kv_cache(self):
            model.reset_kv_cache()
            other.reset_kv_cache()

        def forward(self, in_idx, cache=None):
            return torch.cat([model(in_idx[:1], cache),
                              other(in_idx[1:], cache)])

    prompt = torch.tensor([[100], [100]])
    out = generate(Batch(), prompt, 8, stop_strings=["."],
                   tokenizer=tokenizer, pad_token_id=0, use_cache=False)
    assert out[0].tolist()[:len(first)] == first
    cut = second.index(tokenizer.encode(".")[0]) + 1
    assert out[1].tolist() == second[:cut] + [0] * (8 - cut)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"stop_strings": ["\n"]}, TypeError, "pass tokenizer=tokenizer"),
        ({"stop_strings": [""], "tokenizer": "tok"}, ValueError,
         "empty string"),
        ({"stop_strings": [271], "tokenizer": "tok"}, TypeError,
         "stop_sequences"),
    ],
)
def test_stop_string_arguments(tiny_model, kwargs, error, message):
    with pytest.raises(error, match=message):
        generate_stream(tiny_model, PROMPT, 3, **kwargs)


# Arguments are checked when the function is called


@pytest.mark.parametrize("fn", [generate, generate_stream])
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([1, 2, 3], 5), {}, TypeError, "unsqueeze"),
        ((torch.tensor([1, 2, 3]), 5), {}, ValueError, "unsqueeze"),
        ((torch.tensor([[1.0, 2.0]]), 5), {}, TypeError, "int64"),
        ((torch.zeros(1, 0, dtype=torch.long), 5), {}, ValueError,
         "at least one"),
        ((PROMPT, -1), {}, ValueError, "max_new_tokens must be >= 0"),
        ((PROMPT, 2.5), {}, TypeError, "max_new_tokens must be an int"),
        ((PROMPT, 3), {"temperature": -1}, ValueError, "temperature"),
        ((PROMPT, 3), {"top_k": 0, "temperature": 1}, ValueError, "top_k"),
        ((PROMPT, 3), {"top_p": 2, "temperature": 1}, ValueError, "top_p"),
        ((PROMPT, 3), {"min_p": 2, "temperature": 1}, ValueError, "min_p"),
        ((PROMPT, 3), {"repetition_penalty": 0}, ValueError,
         "repetition_penalty must be a finite number >= 1e-06"),
        ((PROMPT, 3), {"repetition_penalty": "1.2"}, ValueError,
         "repetition_penalty"),
        ((PROMPT, 3), {"stop_sequences": "User:"}, TypeError,
         "stop_strings"),
        ((PROMPT, 3), {"stop_sequences": [[]]}, TypeError, "non-empty"),
        ((PROMPT, 3), {"eos_token_id": "<|endoftext|>"}, TypeError,
         "eos_token_id must be an int, a list of ints"),
        ((PROMPT, 3), {"eos_token_id": []}, TypeError, "eos_token_id"),
        ((PROMPT, 3), {"eos_token_id": [1, 64]}, ValueError,
         "eos_token_id 64 is not a token"),
        ((PROMPT, 3), {"generator": 123}, TypeError, "torch.Generator"),
        # So small that dividing the logits overflows into inf and NaN
        ((PROMPT, 3), {"temperature": 1e-40}, ValueError,
         "temperature must be 0 or a number >= 1e-06"),
        ((PROMPT, 3), {"temperature": 5e-324}, ValueError, "temperature"),
        ((PROMPT, 3), {"repetition_penalty": 1e-45}, ValueError,
         "repetition_penalty must be a finite number >= 1e-06"),
        ((PROMPT, 3), {"top_k": 5}, ValueError,
         "top_k only apply when sampling: add a temperature"),
        ((PROMPT, 3), {"temperprature": 0.7}, TypeError,
         "unknown option: temperprature; the options are"),
        ((PROMPT, 3), {"num_beams": 3}, ValueError, "use beam_search"),
        ((PROMPT, 3), {"config": "greedy"}, TypeError,
         "config must be a GenerationConfig"),
        ((PROMPT, 124), {}, ValueError,
         r"prompt has 5 tokens and max_new_tokens is 124, 129 in all, but "
         r"the model's context length is 128: use max_new_tokens <= 123"),
        ((torch.ones(1, 130, dtype=torch.long), 0), {}, ValueError,
         "prompt has 130 tokens, but the model's context length is 128"),
    ],
)
def test_bad_arguments_fail_at_the_call(tiny_model, fn, args, kwargs,
                                        error, message):
    with pytest.raises(error, match=message):
        fn(tiny_model, *args, **kwargs)  # no next(): the call itself


@pytest.mark.parametrize(
    "fn", [generate, generate_stream, beam_search],
    ids=["generate", "generate_stream", "beam_search"],
)
@pytest.mark.parametrize(("token_ids", "error", "message"), BAD_IDS)
def test_token_ids_are_checked_at_the_call(tiny_model, fn, token_ids,
                                           error, message):
    # Before, ids outside the vocabulary failed deep inside torch
    # (IndexError) and ids on the meta device gave random tokens
    with pytest.raises(error, match=message):
        fn(tiny_model, token_ids, 3)


@pytest.mark.parametrize("pad_token_id", [64, -1])
def test_pad_token_id_outside_the_vocabulary(tiny_model, pad_token_id):
    with pytest.raises(ValueError, match=f"pad_token_id {pad_token_id} is "
                       "not a token of the model's vocabulary"):
        generate(tiny_model, PROMPT, 3, pad_token_id=pad_token_id)


def test_generator_on_another_device_than_the_logits():
    with pytest.raises(ValueError, match="generator is on cpu but the "
                       "model runs on cuda"):
        check_generator(torch.Generator(), torch.device("cuda"))


def test_generate_max_new_tokens_zero(tiny_model):
    assert generate(tiny_model, BATCH, 0).shape == (2, 0)


# Beam search (transformers' semantics are checked against transformers
# itself; these tests use hand-built models where the answer is known)


class MarkovModel(torch.nn.Module):
    """A hand-built 'language model': the next token depends only on the
    last one, through a fixed table of probabilities.

    From token 0, greedy picks token 1 (p=0.6), but every continuation of 1
    is unlikely (best 0.3), while token 2 (p=0.4) is followed by token 3
    with p=0.9. Best two-token path: 2, 3 (0.36) vs greedy 1, x (0.18).
    """

    cfg = {"n_layers": 1}

    def __init__(self):
        super().__init__()
        table = torch.full((4, 4), 1e-9)
        table[0] = torch.tensor([1e-9, 0.6, 0.4, 1e-9])
        table[1] = torch.tensor([0.3, 0.25, 0.2, 0.25])
        table[2] = torch.tensor([0.05, 0.025, 0.025, 0.9])
        table[3] = torch.tensor([0.25, 0.25, 0.25, 0.25])
        self.register_buffer("log_table", table.log())
        self.calls = []

    def reset_kv_cache(self):
        pass

    def forward(self, in_idx, cache=None):
        self.calls.append(tuple(in_idx.shape))
        return self.log_table[in_idx]  # (batch, n_tokens, vocab)


def path_logprob(model, prompt_last, tokens):
    total, prev = 0.0, prompt_last
    for t in tokens:
        total += model.log_table[prev, t].item()
        prev = t
    return total


def test_beam_search_beats_greedy_where_greedy_is_suboptimal():
    model = MarkovModel()
    prompt = torch.tensor([[0]])
    greedy = generate_text_basic(model, prompt, 2)[0].tolist()
    beam, score = beam_search(model, prompt, 2, beam_width=2,
                              length_penalty=0.0)
    assert greedy[0] == 1
    assert beam[0].tolist() == [2, 3]
    assert score == pytest.approx(path_logprob(model, 0, [2, 3]))
    assert score > path_logprob(model, 0, greedy)


def test_beams_advance_in_one_batched_forward_pass_of_constant_shape():
    model = MarkovModel()
    beam_search(model, torch.tensor([[0]]), 5, beam_width=2)
    # One prefill, then one call per further step with every beam
    assert model.calls == [(1, 1)] + [(2, 1)] * 4


def test_beam_width_one_without_eos_is_greedy(tiny_model):
    expected = generate_text_basic(tiny_model, PROMPT, 10)
    tokens, _ = beam_search(tiny_model, PROMPT, 10, beam_width=1)
    assert torch.equal(tokens, expected)


def test_wide_beam_finds_the_best_sequence_exhaustively(tiny_model):
    vocab = tiny_model.cfg["vocab_size"]
    tokens, score = beam_search(tiny_model, PROMPT, 2,
                                beam_width=vocab // 2, length_penalty=0.0)
    with torch.inference_mode():
        best = max(
            itertools.product(range(vocab), repeat=2),
            key=lambda pair: sum_logprob(tiny_model, PROMPT, pair),
        )
    assert tokens[0].tolist() == list(best)
    assert score == pytest.approx(
        sum_logprob(tiny_model, PROMPT, best), abs=1e-4
    )


def sum_logprob(model, prompt, pair):
    ids = torch.cat([prompt, torch.tensor([pair])], dim=1)
    logprobs = torch.log_softmax(model(ids).float(), dim=-1)[0]
    n = prompt.shape[1]
    return (logprobs[n - 1, pair[0]] + logprobs[n, pair[1]]).item()


def test_length_penalty_divides_by_the_length():
    model = MarkovModel()
    tokens, score = beam_search(model, torch.tensor([[0]]), 3,
                                beam_width=2, length_penalty=1.0)
    raw = path_logprob(model, 0, tokens[0].tolist())
    assert score == pytest.approx(raw / 3)


def test_finished_beams_do_not_take_live_slots():
    """Token 0 is EOS. At the second step, [1, EOS] is the second-best
    continuation: it becomes a finished hypothesis, and two beams stay
    alive. Its score counts EOS in the length."""
    model = MarkovModel()
    tokens, score = beam_search(model, torch.tensor([[0]]), 4,
                                beam_width=2, eos_token_id=0,
                                length_penalty=1.0, early_stopping=True)
    assert model.calls[0] == (1, 1)
    assert set(model.calls[1:]) == {(2, 1)}  # never fewer live beams
    path = tokens[0].tolist()
    assert 0 not in path  # EOS is left out, as in the book's loops
    if len(path) < 4:  # it ended with EOS
        expected = path_logprob(model, 0, path + [0]) / (len(path) + 1)
    else:
        expected = path_logprob(model, 0, path) / 4
    assert score == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"beam_width": 0}, ValueError, "beam_width.? must be >= 1"),
        ({"beam_width": 2.0}, TypeError, "beam_width.? must be an int"),
        ({"length_penalty": "long"}, TypeError, "length_penalty"),
        ({"length_penalty": float("nan")}, ValueError,
         "length_penalty must be a finite number"),
        ({"length_penalty": float("inf")}, ValueError,
         "length_penalty must be a finite number"),
        ({"early_stopping": "soon"}, ValueError, "early_stopping"),
        ({"eos_token_id": 99}, ValueError, "not a token"),
    ],
)
def test_beam_search_bad_arguments(tiny_model, kwargs, error, message):
    with pytest.raises(error, match=message):
        beam_search(tiny_model, PROMPT, 3, **kwargs)


def test_beam_search_takes_one_prompt(tiny_model):
    with pytest.raises(ValueError, match="once per prompt"):
        beam_search(tiny_model, BATCH, 3)


def test_beam_search_checks_the_context_length(tiny_model):
    with pytest.raises(ValueError, match="context length is 128"):
        beam_search(tiny_model, PROMPT, 200)


@pytest.mark.parametrize(
    "run",
    [
        lambda m: generate(m, PROMPT, 3),
        lambda m: list(generate_stream(m, PROMPT, 3, use_cache=False)),
        lambda m: next(generate_stream(m, PROMPT, 3)),  # left unfinished
        lambda m: beam_search(m, PROMPT, 3, beam_width=2),
    ],
    ids=["generate", "generate_stream", "stream_stopped_early",
         "beam_search"],
)
def test_the_callers_training_mode_is_given_back(run):
    import gc

    from helpers.tiny_model import tiny_qwen3_model

    model = tiny_qwen3_model().train()
    model.trf_blocks[0].eval()  # a mix, as after freezing a layer
    modes = [m.training for m in model.modules()]
    run(model)
    gc.collect()  # an abandoned stream is closed when it is collected
    assert [m.training for m in model.modules()] == modes


def test_a_config_or_keywords_never_both(tiny_model):
    config = GenerationConfig(4, eos_token_id=3)
    assert torch.equal(generate(tiny_model, PROMPT, config=config),
                       generate(tiny_model, PROMPT, 4, eos_token_id=3))
    with pytest.raises(TypeError, match="either as config=... or as "
                       "keywords, not both"):
        generate(tiny_model, PROMPT, config=config, temperature=0.5)
    with pytest.raises(ValueError, match="generate_stream yields tokens "
                       "only"):
        generate_stream(tiny_model, PROMPT, 3, output_scores=True)


@pytest.mark.parametrize("value", [Fraction(7, 10), np.float64(0.7)])
def test_numbers_of_other_types_become_floats(tiny_model, value):
    # Before, a Fraction passed the check and failed mid-generation
    config = GenerationConfig(4, temperature=value, top_p=value,
                              repetition_penalty=value + 1)
    assert type(config.temperature) is float
    assert type(config.top_p) is float
    generator = torch.Generator().manual_seed(1)
    out = generate(tiny_model, PROMPT, config=config, generator=generator)
    assert out.shape == (1, 4)


@pytest.mark.parametrize("flag", [1, 1.0, np.True_, "yes"])
def test_early_stopping_takes_a_bool_or_never(tiny_model, flag):
    # Before, 1 and 1.0 were accepted and behaved as False
    with pytest.raises(ValueError, match="early_stopping must be True, "
                       "False or 'never'"):
        beam_search(tiny_model, PROMPT, 4, early_stopping=flag)


def test_the_smallest_temperature_and_penalty_give_finite_scores():
    """At the smallest temperature and penalty allowed, logits 1,000 times
    a tiny model's stay within float32: the draw is the greedy token and
    every score is finite."""
    from helpers.decoding.config import SMALLEST
    from helpers.tiny_model import tiny_qwen3_model

    model = tiny_qwen3_model()
    with torch.no_grad():
        model.out_head.weight.mul_(1000)
    sampled = generate(model, PROMPT, 8, temperature=SMALLEST,
                       repetition_penalty=SMALLEST, output_scores=True,
                       generator=torch.Generator().manual_seed(0))
    greedy = generate(model, PROMPT, 8, repetition_penalty=SMALLEST,
                      output_scores=True)
    assert torch.equal(sampled.sequences, greedy.sequences)
    for out in (sampled, greedy):
        assert bool(torch.isfinite(out.scores).all())
