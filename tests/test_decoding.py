"""generate / generate_stream / beam_search on tiny models."""

import itertools

import pytest
import torch

from helpers import generate_text_basic
from helpers.decoding import beam_search, generate, generate_stream

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


def test_beam_width_one_is_greedy(tiny_model):
    expected = generate_text_basic(tiny_model, PROMPT, 10)
    tokens, _ = beam_search(tiny_model, PROMPT, 10, beam_width=1)
    assert torch.equal(tokens, expected)
    eos = int(expected[0, 6])
    expected_eos = generate_text_basic(tiny_model, PROMPT, 10, eos)
    tokens_eos, _ = beam_search(tiny_model, PROMPT, 10, beam_width=1,
                                eos_token_id=eos)
    assert torch.equal(tokens_eos, expected_eos)


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
    out = generate(tiny_model, PROMPT, 12, stop_sequences=[[999], stop])
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


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"temperature": -1}, ValueError, "temperature"),
        ({"top_k": 0, "temperature": 1}, ValueError, "top_k"),
        ({"top_p": 2, "temperature": 1}, ValueError, "top_p"),
        ({"stop_sequences": "User:"}, TypeError, "tokenizer.encode"),
        ({"stop_sequences": [[]]}, TypeError, "non-empty"),
    ],
)
def test_generate_bad_arguments(tiny_model, kwargs, error, message):
    with pytest.raises(error, match=message):
        generate(tiny_model, PROMPT, 3, **kwargs)


def test_generate_max_new_tokens_checked(tiny_model):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        generate(tiny_model, PROMPT, -1)
    assert generate(tiny_model, BATCH, 0).shape == (2, 0)


# Beam search


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


def test_beams_advance_in_one_batched_forward_pass():
    model = MarkovModel()
    beam_search(model, torch.tensor([[0]]), 5, beam_width=3)
    # One prefill, then one call per further step with all beams at once
    assert model.calls == [(1, 1)] + [(3, 1)] * 4


def test_wide_beam_finds_the_best_sequence_exhaustively(tiny_model):
    vocab = tiny_model.cfg["vocab_size"]
    tokens, score = beam_search(tiny_model, PROMPT, 2, beam_width=vocab,
                                length_penalty=0.0)
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


def test_length_penalty_normalizes_by_length():
    model = MarkovModel()
    tokens, score = beam_search(model, torch.tensor([[0]]), 3,
                                beam_width=2, length_penalty=1.0)
    raw = path_logprob(model, 0, tokens[0].tolist())
    assert score == pytest.approx(raw / 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"beam_width": 0}, ValueError, "beam_width must be >= 1"),
        ({"beam_width": 2.0}, TypeError, "beam_width must be an int"),
        ({"length_penalty": "long"}, TypeError, "length_penalty"),
    ],
)
def test_beam_search_bad_arguments(tiny_model, kwargs, error, message):
    with pytest.raises(error, match=message):
        beam_search(tiny_model, PROMPT, 3, **kwargs)


def test_beam_search_takes_one_prompt(tiny_model):
    with pytest.raises(ValueError, match="once per prompt"):
        beam_search(tiny_model, BATCH, 3)
