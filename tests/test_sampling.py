"""Temperature, top-k, top-p, min-p and the repetition penalty: exact
behaviour, statistics, properties."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.decoding import (
    apply_repetition_penalty,
    apply_temperature,
    min_p_filter,
    sample_next_token,
    top_k_filter,
    top_p_filter,
)

LOGITS = torch.tensor([[2.0, 1.0, 0.5, -1.0]])


def draw(logits, n, seed=123, **kwargs):
    generator = torch.Generator().manual_seed(seed)
    batch = logits.expand(n, -1)
    return sample_next_token(batch, generator=generator, **kwargs)[:, 0]


def frequencies(tokens, vocab_size):
    return torch.bincount(tokens, minlength=vocab_size).float() / len(tokens)


def test_temperature_zero_is_argmax():
    logits = torch.randn(5, 100)
    expected = logits.argmax(dim=-1, keepdim=True)
    assert torch.equal(sample_next_token(logits), expected)
    # Filters without a temperature would be silently ignored: refused,
    # as ch02-generate refuses them
    with pytest.raises(ValueError, match="top_k, top_p only apply when "
                       "sampling: add a temperature"):
        sample_next_token(logits, temperature=0.0, top_k=3, top_p=0.5)


def test_top_k_one_and_tiny_top_p_are_greedy():
    logits = torch.randn(8, 50)
    expected = logits.argmax(dim=-1, keepdim=True)
    assert torch.equal(draw(logits[:1], 200, temperature=1.5, top_k=1),
                       expected[0].expand(200))
    assert torch.equal(draw(logits[:1], 200, temperature=1.5, top_p=1e-6),
                       expected[0].expand(200))


def test_sampling_follows_the_filtered_renormalized_distribution():
    # temperature 0.8, then top-k 3: token 3 is removed, the rest rescaled
    n = 40_000
    tokens = draw(LOGITS, n, temperature=0.8, top_k=3)
    expected = torch.softmax(LOGITS[0, :3] / 0.8, dim=-1)
    observed = frequencies(tokens, 4)
    assert observed[3] == 0
    # 4 standard errors of a frequency near 0.5 with n = 40,000 is 0.01
    assert torch.allclose(observed[:3], expected, atol=0.01)


def test_top_p_keeps_the_token_that_crosses_p():
    probas = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probas.log()
    # 0.5 < 0.7, 0.5 + 0.3 crosses 0.7: keep tokens 0 and 1
    filtered = top_p_filter(logits, 0.7)
    assert torch.isfinite(filtered[0]).tolist() == [True, True, False, False]
    observed = frequencies(draw(logits, 40_000, temperature=1.0,
                                top_p=0.7), 4)
    assert observed[2:].sum() == 0
    assert torch.allclose(observed[:2], torch.tensor([0.625, 0.375]),
                          atol=0.01)


def test_top_p_exact_boundary_and_one():
    probas = torch.tensor([[0.5, 0.3, 0.2]])
    kept = torch.isfinite(top_p_filter(probas.log(), 0.8))
    assert kept.tolist() == [[True, True, False]]
    assert torch.equal(top_p_filter(probas.log(), 1.0), probas.log())


def test_top_k_larger_than_vocabulary_is_clamped():
    logits = torch.randn(2, 10)
    assert torch.equal(top_k_filter(logits, 1000), logits)
    tokens = draw(logits[:1], 50, temperature=1.0, top_k=10_000)
    assert tokens.max() < 10


def test_same_seed_same_draws_and_other_seed_differs():
    logits = torch.randn(1, 1000)
    first = draw(logits, 100, seed=7, temperature=1.0)
    again = draw(logits, 100, seed=7, temperature=1.0)
    other = draw(logits, 100, seed=8, temperature=1.0)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_temperature_sharpens_and_flattens():
    sharp = torch.softmax(apply_temperature(LOGITS, 0.1), dim=-1)
    flat = torch.softmax(apply_temperature(LOGITS, 3.0), dim=-1)
    assert sharp[0, 0] > 0.99
    assert flat.max() - flat.min() < 0.3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -0.5},
         "temperature must be 0 or a number >= 1e-06"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 1.0, "top_k": 0}, "top_k must be an integer >= 1"),
        ({"temperature": 1.0, "top_k": 2.5}, "top_k must be an integer"),
        ({"temperature": 1.0, "top_p": 0.0}, "0 < top_p <= 1"),
        ({"temperature": 1.0, "top_p": 1.5}, "0 < top_p <= 1"),
        ({"temperature": 1.0, "min_p": -0.1}, "0 <= min_p <= 1"),
        ({"temperature": 1.0, "min_p": 1.5}, "0 <= min_p <= 1"),
        ({"temperature": 1.0, "min_p": float("nan")}, "min_p"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_next_token(LOGITS, **kwargs)


def test_logits_must_be_two_dimensional():
    with pytest.raises(ValueError, match=r"logits\[:, -1\]"):
        sample_next_token(torch.randn(1, 3, 10))


# Property-based tests over random logits

logit_rows = st.lists(
    st.floats(min_value=-30, max_value=30, allow_nan=False, width=32),
    min_size=1, max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(row=logit_rows, k=st.integers(min_value=1, max_value=50))
def test_top_k_keeps_the_k_largest(row, k):
    logits = torch.tensor([row])
    kept = torch.isfinite(top_k_filter(logits, k))[0]
    assert kept.sum() >= min(k, len(row))  # ties may keep a few more
    assert logits[0][kept].max() == logits[0].max()
    if not kept.all():
        assert logits[0][kept].min() > logits[0][~kept].max()


@settings(max_examples=200, deadline=None)
@given(row=logit_rows, p=st.floats(min_value=1e-6, max_value=1.0))
def test_top_p_keeps_the_smallest_set_reaching_p(row, p):
    logits = torch.tensor([row])
    probas = torch.softmax(logits, dim=-1)[0]
    kept = torch.isfinite(top_p_filter(logits, p))[0]
    assert probas[kept].max() == probas.max()  # a most probable token
    kept_mass = probas[kept].sum().item()
    assert kept_mass >= min(p, 1.0) - 1e-5
    # Minimal: without its least probable token the set is below p
    smallest = probas[kept].min().item()
    assert kept_mass - smallest < p + 1e-5
    if not kept.all():
        assert probas[kept].min() >= probas[~kept].max()


@settings(max_examples=100, deadline=None)
@given(row=logit_rows, k=st.integers(1, 5),
       p=st.floats(min_value=0.05, max_value=1.0),
       t=st.floats(min_value=0.1, max_value=3.0), seed=st.integers(0, 99))
def test_sampling_never_returns_a_filtered_token(row, k, p, t, seed):
    logits = torch.tensor([row])
    allowed = torch.isfinite(
        top_p_filter(top_k_filter(logits / t, k), p)
    )[0]
    token = draw(logits, 20, seed=seed, temperature=t, top_k=k, top_p=p)
    assert allowed[token].all()


@settings(max_examples=200, deadline=None)
@given(row=logit_rows, m=st.floats(min_value=0.0, max_value=1.0))
def test_min_p_keeps_the_tokens_at_least_m_times_the_best(row, m):
    logits = torch.tensor([row])
    probas = torch.softmax(logits, dim=-1)[0]
    kept = torch.isfinite(min_p_filter(logits, m))[0]
    assert kept[probas.argmax()]  # the most probable token stays
    assert torch.equal(kept, probas >= m * probas.max())


def test_min_p_cut_follows_the_confidence():
    peaked = torch.tensor([[10.0, 5.0, 4.0, 3.0]])
    flat = torch.tensor([[1.0, 0.9, 0.8, 0.7]])
    assert torch.isfinite(min_p_filter(peaked, 0.1)).sum() == 1
    assert torch.isfinite(min_p_filter(flat, 0.1)).sum() == 4


@settings(max_examples=100, deadline=None)
@given(row=logit_rows, m=st.floats(min_value=0.0, max_value=1.0),
       t=st.floats(min_value=0.1, max_value=3.0), seed=st.integers(0, 99))
def test_sampling_with_min_p_never_returns_a_filtered_token(row, m, t, seed):
    logits = torch.tensor([row])
    allowed = torch.isfinite(min_p_filter(logits / t, m))[0]
    token = draw(logits, 20, seed=seed, temperature=t, min_p=m)
    assert allowed[token].all()


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[0, 1, 1]])  # a repeated token counts once
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0]]
    assert torch.equal(apply_repetition_penalty(logits, seen, 1.0), logits)
    assert logits.tolist() == [[2.0, -1.0, 0.5, 3.0]]  # not in place


@pytest.mark.parametrize("seed", range(12))
def test_top_p_on_candidates_equals_top_p_on_everything(seed):
    from helpers.decoding.filters import top_p_sorted

    generator = torch.Generator().manual_seed(seed)
    scale = [1.0, 4.0, 10.0][seed % 3]  # a flat row takes the long way
    logits = torch.randn(4, 151_936, generator=generator) * scale
    top_p = [0.5, 0.9, 0.95, 0.999][seed % 4]
    fast = top_p_filter(logits, top_p)
    assert torch.equal(torch.isinf(fast),
                       torch.isinf(top_p_sorted(logits, top_p)))


# The public filters check what they are given (one line that says what to
# use), as sample_next_token does

@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: apply_temperature(LOGITS, float("nan")), ValueError,
         "finite temperature > 0"),
        (lambda: apply_temperature(LOGITS, 0), ValueError, "greedy"),
        (lambda: apply_temperature(LOGITS, -1.0), ValueError, "> 0"),
        (lambda: apply_temperature(LOGITS, "hot"), ValueError, "temperature"),
        (lambda: top_k_filter(LOGITS, 0), ValueError, "top_k must be"),
        (lambda: top_k_filter(LOGITS, 2.5), ValueError, "top_k must be"),
        (lambda: top_k_filter(LOGITS, True), ValueError, "top_k must be"),
        (lambda: top_p_filter(LOGITS, 1.5), ValueError, "0 < top_p <= 1"),
        (lambda: top_p_filter(LOGITS, 0), ValueError, "0 < top_p <= 1"),
        (lambda: top_p_filter(LOGITS, float("nan")), ValueError,
         "0 < top_p <= 1"),
        (lambda: top_p_filter(LOGITS, "0.9"), ValueError, "top_p"),
        (lambda: top_k_filter(LOGITS[0], 2), ValueError,
         r"\(batch, vocab_size\)"),
        (lambda: top_p_filter(torch.tensor([[1, 2, 3]]), 0.9), TypeError,
         "top_p_filter needs logits as a floating-point tensor"),
        (lambda: apply_temperature([[1.0, 2.0]], 1.0), TypeError,
         "apply_temperature needs logits"),
        (lambda: min_p_filter(LOGITS, 1.5), ValueError, "0 <= min_p <= 1"),
        (lambda: min_p_filter(LOGITS, -0.1), ValueError, "0 <= min_p <= 1"),
        (lambda: min_p_filter(LOGITS, float("nan")), ValueError, "min_p"),
        (lambda: min_p_filter(LOGITS, True), ValueError, "min_p"),
        (lambda: min_p_filter(LOGITS[0], 0.1), ValueError,
         r"\(batch, vocab_size\)"),
        (lambda: apply_repetition_penalty(LOGITS, torch.tensor([[0]]), 0),
         ValueError,
         "repetition_penalty must be a finite number >= 1e-06"),
        (lambda: apply_repetition_penalty(LOGITS, torch.tensor([[0]]), -1.2),
         ValueError, "repetition_penalty"),
        (lambda: apply_repetition_penalty(LOGITS, torch.tensor([[0]]),
                                          float("inf")),
         ValueError, "repetition_penalty"),
        (lambda: apply_repetition_penalty(LOGITS, [[0]], 1.2), ValueError,
         r"token_ids as an integer tensor of shape \(batch, n_tokens\)"),
        (lambda: apply_repetition_penalty(LOGITS, torch.tensor([0]), 1.2),
         ValueError, "token_ids"),
        (lambda: apply_repetition_penalty(LOGITS, torch.tensor([[0.0]]),
                                          1.2),
         ValueError, "token_ids"),
    ],
)
def test_public_filters_refuse_bad_arguments(call, error, message):
    before = LOGITS.clone()
    with pytest.raises(error, match=message):
        call()
    assert torch.equal(LOGITS, before)  # nothing changed in place


def test_public_filters_keep_their_results_on_good_arguments():
    assert torch.equal(top_k_filter(LOGITS, 1000), LOGITS)
    assert torch.equal(top_p_filter(LOGITS, 1), LOGITS)  # an int 1 is fine
    assert torch.equal(apply_temperature(LOGITS, 1), LOGITS)
    assert torch.equal(min_p_filter(LOGITS, 0), LOGITS)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.parametrize("row", [[float("nan"), 1.0, 2.0],
                                 [-float("inf")] * 3])
def test_logits_without_a_choice_are_refused(temperature, row):
    # Before, greedy decoding on NaN logits returned token 0
    logits = torch.tensor([[0.5, 1.0, 2.0], row])
    with pytest.raises(ValueError, match=r"the logits of row\(s\) \[1\] "
                       "hold NaN or only -inf"):
        sample_next_token(logits, temperature=temperature)


@pytest.mark.parametrize("token_ids", [
    torch.tensor([[0, 4]]), torch.tensor([[-1]]),
    torch.tensor([[1]], device="meta"),
], ids=["beyond", "negative", "meta"])
def test_repetition_penalty_checks_its_token_ids(token_ids):
    logits = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="token_ids"):
        apply_repetition_penalty(logits, token_ids, 1.2)
