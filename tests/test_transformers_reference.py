"""Our decoding against Hugging Face transformers, the reference
implementation: the same weights in, the same tokens and scores out.

The book's Qwen3Model (tiny config, float32, random weights and random
norm scales) is copied into transformers' Qwen3ForCausalLM; no download is
needed for a model built from a config.
"""

import logging
import random

import pytest
import torch
from reasoning_from_scratch.qwen3 import Qwen3Model
from transformers import PreTrainedTokenizerFast
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.stopping_criteria import StopStringCriteria

from helpers.decoding import beam_search, generate
from helpers.decoding.padding import RIGHT_PADDING_WARNING, left_pad
from helpers.decoding.sampling import (
    apply_repetition_penalty,
    apply_temperature,
    min_p_filter,
    top_k_filter,
    top_p_filter,
)
from helpers.decoding.stopping import StopStrings
from helpers.files.random_weights import seeded_model
from helpers.tiny_model import TINY_QWEN3_CONFIG
from notebooks import ROOT
from script_args import load_script

# Beside the benchmark that uses it too, outside the helpers package
to_transformers = load_script(
    ROOT / "ch02" / "03_faster-generation" / "transformers_bridge.py"
).to_transformers


def reference_pair(seed):
    """Our tiny model with random weights and random norm scales, and the
    same model in transformers."""
    model = seeded_model(TINY_QWEN3_CONFIG, seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".scale"):  # no trained model has all 1.0
                param.copy_(0.5 + torch.rand(param.shape,
                                             generator=generator))
            elif name == "out_head.weight":  # sharper, fewer near-ties
                param.mul_(8)
    return model.eval(), to_transformers(model)


def random_prompt(seed, length=None):
    rng = random.Random(seed)
    length = length or rng.randint(1, 8)
    vocab = TINY_QWEN3_CONFIG["vocab_size"]
    return torch.tensor([[rng.randrange(vocab) for _ in range(length)]])


def likely_eos(model, prompt):
    """A token that is often among the most likely ones: as EOS it ends
    many beams."""
    with torch.inference_mode():
        logits = model(prompt)[0]
        text = generate(model, prompt, 12)
        logits = torch.cat([logits, model(torch.cat([prompt, text], 1))[0]])
    return int(torch.log_softmax(logits, -1).mean(0).argmax())


def without_eos(tokens, eos):
    tokens = tokens.tolist()
    return tokens[:tokens.index(eos)] if eos in tokens else tokens


@pytest.mark.parametrize("seed", range(4))
def test_both_models_give_the_same_logits(seed):
    model, hf = reference_pair(seed)
    prompt = random_prompt(seed, length=12)
    with torch.inference_mode():
        ours = model(prompt)
        theirs = hf(prompt).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_eos", [False, True])
def test_greedy_generate_equals_transformers(seed, with_eos):
    model, hf = reference_pair(seed)
    prompt = random_prompt(seed)
    eos = likely_eos(model, prompt) if with_eos else None
    ours = generate(model, prompt, 20, eos_token_id=eos)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                         max_new_tokens=20, do_sample=False,
                         eos_token_id=eos, pad_token_id=eos or 0)
    expected = theirs[0, prompt.shape[1]:]
    if eos is not None:
        expected = torch.tensor(without_eos(expected, eos))
    assert ours[0].tolist() == expected.tolist()


def test_several_eos_ids_equal_transformers():
    model, hf = reference_pair(11)
    prompt = random_prompt(11)
    free = generate(model, prompt, 20)[0].tolist()
    eos = [free[9], free[4]]
    ours = generate(model, prompt, 20, eos_token_id=eos)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                         max_new_tokens=20, do_sample=False,
                         eos_token_id=eos, pad_token_id=eos[0])
    expected = theirs[0, prompt.shape[1]:].tolist()
    assert ours[0].tolist() == expected[:-1]  # theirs ends with the EOS
    assert expected[-1] in eos and len(expected) == free.index(free[4]) + 1


@pytest.mark.parametrize("seed", range(20))
def test_filters_equal_the_transformers_warpers(seed):
    generator = torch.Generator().manual_seed(seed)
    vocab = [64, 1000, 151_936][seed % 3]
    scale = [0.5, 2.0, 6.0, 20.0][seed % 4]  # flat to peaked
    logits = torch.randn(3, vocab, generator=generator) * scale
    temperature = [0.3, 0.7, 1.0, 1.5][seed % 4]
    top_k = [1, 5, 50, 2000][seed % 4]
    top_p = [0.1, 0.5, 0.9, 0.99][(seed // 4) % 4]
    min_p = [0.0, 0.02, 0.1, 0.5, 0.9][seed % 5]

    ours = apply_temperature(logits, temperature)
    theirs = TemperatureLogitsWarper(temperature)(None, logits)
    torch.testing.assert_close(ours, theirs)
    for our_filter, warper in [
        (lambda x: top_k_filter(x, top_k), TopKLogitsWarper(top_k)),
        (lambda x: top_p_filter(x, top_p), TopPLogitsWarper(top_p)),
        (lambda x: min_p_filter(x, min_p), MinPLogitsWarper(min_p)),
    ]:
        got, want = our_filter(ours), warper(None, theirs.clone())
        assert torch.equal(torch.isinf(got), torch.isinf(want))
        torch.testing.assert_close(torch.softmax(got, -1),
                                   torch.softmax(want, -1))


@pytest.mark.parametrize("seed", range(6))
def test_repetition_penalty_equals_the_transformers_processor(seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 1000, generator=generator) * 4
    token_ids = torch.randint(0, 1000, (3, 30), generator=generator)
    penalty = [0.5, 1.0, 1.1, 1.3, 2.0, 5.0][seed]
    want = RepetitionPenaltyLogitsProcessor(penalty)(token_ids,
                                                     logits.clone())
    torch.testing.assert_close(
        apply_repetition_penalty(logits, token_ids, penalty), want
    )


@pytest.mark.parametrize("seed", range(4))
def test_repetition_penalty_generate_equals_transformers(seed):
    model, hf = reference_pair(seed)
    prompt = random_prompt(seed, length=6)
    plain = generate(model, prompt, 30)
    ours = generate(model, prompt, 30, repetition_penalty=1.5)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                         max_new_tokens=30, do_sample=False,
                         repetition_penalty=1.5, pad_token_id=0)
    assert ours[0].tolist() == theirs[0, prompt.shape[1]:].tolist()
    assert not torch.equal(ours, plain)  # the penalty changed the text


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("use_cache", [True, False])
def test_left_padded_batch_equals_transformers(seed, use_cache):
    """Greedy, with EOS ending rows early and the repetition penalty
    (which ignores the padding, as transformers does)."""
    model, hf = reference_pair(seed)
    prompts = [random_prompt(10 * seed + row, length)[0].tolist()
               for row, length in enumerate([7, 2, 4, 1])]
    token_ids, attention_mask = left_pad(prompts, pad_token_id=1)
    eos = likely_eos(model, token_ids[:1])
    options = dict(eos_token_id=eos, pad_token_id=1, repetition_penalty=1.2)
    ours = generate(model, token_ids, 20, attention_mask=attention_mask,
                    use_cache=use_cache, **options)
    theirs = hf.generate(token_ids, attention_mask=attention_mask,
                         max_new_tokens=20, do_sample=False, **options)
    theirs = theirs[:, token_ids.shape[1]:]
    for row in range(len(prompts)):
        assert without_eos(ours[row], eos) == without_eos(theirs[row], eos)
    # not a trivial agreement: without the mask, a padded row goes wrong
    unmasked = generate(model, token_ids, 20, **options)
    assert not all(without_eos(unmasked[row], eos)
                   == without_eos(theirs[row], eos) for row in range(4))


def test_right_padding_warning_is_transformers_own():
    model, hf = reference_pair(0)
    right_padded = torch.tensor([[5, 9, 14], [8, 0, 0]])
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("transformers.generation.utils")
    logger.addHandler(handler)
    try:
        hf.generate(right_padded, max_new_tokens=1, do_sample=False,
                    pad_token_id=0)
    finally:
        logger.removeHandler(handler)
    assert RIGHT_PADDING_WARNING in messages
    with pytest.warns(UserWarning) as record:
        generate(model, right_padded, 1, pad_token_id=0)
    assert str(record[0].message) == RIGHT_PADDING_WARNING


CASES = [
    # (seed, beam width, length penalty, early stopping)
    (seed, width, penalty, early)
    for seed, (width, penalty) in enumerate(
        [(2, 1.0), (3, 0.0), (4, 2.0), (5, -0.5), (4, 1.0), (6, 0.6),
         (2, 0.0), (8, 1.0)]
    )
    for early in (False, True)
]


@pytest.mark.parametrize(("seed", "width", "length_penalty",
                          "early_stopping"), CASES)
@pytest.mark.parametrize("with_eos", [True, False])
def test_beam_search_equals_transformers(seed, width, length_penalty,
                                         early_stopping, with_eos):
    model, hf = reference_pair(100 + seed)
    prompt = random_prompt(100 + seed)
    eos = likely_eos(model, prompt) if with_eos else None
    n = 12
    ours, score = beam_search(model, prompt, n, beam_width=width,
                              length_penalty=length_penalty,
                              eos_token_id=eos,
                              early_stopping=early_stopping)
    theirs = hf.generate(
        prompt, attention_mask=torch.ones_like(prompt),  # 0 is no pad
        max_new_tokens=n, num_beams=width, do_sample=False,
        length_penalty=length_penalty, early_stopping=early_stopping,
        eos_token_id=eos, pad_token_id=eos if eos is not None else 0,
        output_scores=True, return_dict_in_generate=True,
    )
    expected = theirs.sequences[0, prompt.shape[1]:]
    expected = without_eos(expected, eos) if eos is not None else (
        expected.tolist()
    )
    assert ours[0].tolist() == expected
    assert score == pytest.approx(theirs.sequences_scores[0].item(),
                                  abs=1e-4)


def test_the_eos_cases_really_end_beams_early():
    """The EOS chosen above ends some answers before max_new_tokens, so
    the cases with EOS test finished hypotheses, not only full length."""
    lengths = []
    for seed, width, penalty, early in CASES:
        model, _ = reference_pair(100 + seed)
        prompt = random_prompt(100 + seed)
        tokens, _ = beam_search(model, prompt, 12, beam_width=width,
                                length_penalty=penalty,
                                eos_token_id=likely_eos(model, prompt),
                                early_stopping=early)
        lengths.append(tokens.shape[1])
    assert sum(length < 12 for length in lengths) >= len(CASES) // 4


@pytest.fixture(scope="module")
def tokenizers(tokenizer_path):
    from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

    ours = Qwen3Tokenizer(tokenizer_file_path=tokenizer_path)
    theirs = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_path))
    return ours, theirs


TEXTS = [
    "Cats purr.\n\nDogs bark.\n\n",
    "Question: What is 2+2?\nAnswer: 4\nQuestion: And 3+3?",
    "The stopper stops the stop sign at the last top stop.",
    "Ende.\n\n東京タワー。\n\n🙂 done",
    "lastopper", "User: hi\nAssistant: hello\nUser:",
]
STOPS = [["\n\n"], ["Question:"], ["stop"], ["\n\n", "。"], ["top"],
         ["User:", "\nAssistant"]]


@pytest.mark.parametrize(("text", "stops"),
                         list(zip(TEXTS, STOPS, strict=True)))
def test_stop_strings_stop_where_transformers_stops(tokenizers, text,
                                                    stops):
    ours, theirs = tokenizers
    ids = ours.encode(text)
    criteria = StopStringCriteria(theirs, stops)
    matcher = StopStrings(stops, ours)
    fired = []
    for end in range(1, len(ids) + 1):
        want = bool(criteria(torch.tensor([ids[:end]]), None)[0])
        got = matcher.ends_in_last_token(ids[:end])
        assert got == want, (ours.decode(ids[:end]), got, want)
        fired.append(got)
    assert any(fired)


@pytest.mark.slow  # 15 stop-string sets, each reads the vocabulary
def test_stop_strings_on_random_cuts_equal_transformers(tokenizers):
    ours, theirs = tokenizers
    rng = random.Random(0)
    pieces = ["a", "b", "ab", "\n", "\n\n", ".", " ", "x", "é", "東"]
    criteria = {}  # building one reads the whole vocabulary: reuse them
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        stops = sorted(rng.sample(
            ["ab", "\n\n", "b\n", "x x", ".\n", "é東"], 2
        ))
        ids = ours.encode(text)
        if tuple(stops) not in criteria:
            criteria[tuple(stops)] = StopStringCriteria(theirs, stops)
        want = bool(criteria[tuple(stops)](torch.tensor([ids]), None)[0])
        assert StopStrings(stops, ours).ends_in_last_token(ids) == want, (
            text, stops
        )


def test_reference_model_is_the_books_class():
    model, _ = reference_pair(0)
    assert isinstance(model, Qwen3Model)


# Sampling with transformers' own draws: both sample with
# torch.multinomial from the global generator, so the same seed gives the
# same tokens when the processed distributions are equal

SAMPLING = [
    {"temperature": 0.8},
    {"temperature": 1.0, "top_k": 8},
    {"temperature": 0.9, "top_p": 0.8},
    {"temperature": 1.3, "min_p": 0.1},
    {"temperature": 0.7, "top_k": 20, "top_p": 0.9, "min_p": 0.05,
     "repetition_penalty": 1.3},
]


def hf_sampling(options):
    """transformers' options for ours: no top-k unless asked (its
    default is 50)."""
    return {"do_sample": True, "top_k": 0, **options}


@pytest.mark.parametrize("options", SAMPLING,
                         ids=lambda o: "+".join(sorted(o)))
@pytest.mark.parametrize("seed", range(3))
def test_sampling_equals_transformers_draw_for_draw(seed, options):
    model, hf = reference_pair(seed)
    prompts = [random_prompt(10 * seed + row, length)[0].tolist()
               for row, length in enumerate([5, 2, 4])]
    token_ids, attention_mask = left_pad(prompts, pad_token_id=1)
    torch.manual_seed(seed)
    ours = generate(model, token_ids, 20, attention_mask=attention_mask,
                    output_scores=True, **options)
    torch.manual_seed(seed)
    theirs = hf.generate(token_ids, attention_mask=attention_mask,
                         max_new_tokens=20, pad_token_id=1,
                         output_scores=True, return_dict_in_generate=True,
                         **hf_sampling(options))
    assert torch.equal(ours.sequences,
                       theirs.sequences[:, token_ids.shape[1]:])
    expected = hf.compute_transition_scores(
        theirs.sequences, theirs.scores, normalize_logits=True)
    torch.testing.assert_close(ours.scores, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_scores_equal_transformers(seed, penalty):
    """Greedy scores are the log-softmax of the penalized logits, as
    transformers' compute_transition_scores(normalize_logits=True)."""
    model, hf = reference_pair(seed)
    prompt = random_prompt(seed, length=6)
    ours = generate(model, prompt, 20, repetition_penalty=penalty,
                    output_scores=True)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                         max_new_tokens=20, do_sample=False,
                         repetition_penalty=penalty, pad_token_id=0,
                         output_scores=True, return_dict_in_generate=True)
    expected = hf.compute_transition_scores(
        theirs.sequences, theirs.scores, normalize_logits=True)
    assert ours.sequences[0].tolist() == theirs.sequences[
        0, prompt.shape[1]:].tolist()
    torch.testing.assert_close(ours.scores, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("seed", range(4))
def test_left_padded_beam_search_equals_transformers(seed):
    model, hf = reference_pair(200 + seed)
    token_ids, attention_mask = left_pad(
        [random_prompt(200 + seed, 3)[0].tolist()], pad_token_id=1)
    token_ids = torch.cat([torch.tensor([[1, 1, 1, 1]]), token_ids], 1)
    attention_mask = torch.cat([torch.zeros(1, 4, dtype=torch.long),
                                attention_mask], 1)
    eos = likely_eos(model, token_ids[:, 4:])
    ours, score = beam_search(model, token_ids, 10, beam_width=3,
                              eos_token_id=eos,
                              attention_mask=attention_mask)
    theirs = hf.generate(token_ids, attention_mask=attention_mask,
                         max_new_tokens=10, num_beams=3, do_sample=False,
                         eos_token_id=eos, pad_token_id=1,
                         output_scores=True, return_dict_in_generate=True)
    expected = without_eos(theirs.sequences[0, token_ids.shape[1]:], eos)
    assert ours[0].tolist() == expected
    assert score == pytest.approx(theirs.sequences_scores[0].item(),
                                  abs=1e-4)
