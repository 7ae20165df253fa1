"""Checks for the exercises notebook: each ``check_*`` runs the reader's
function on small inputs and prints one verdict, "✓", "✗" and what is
wrong, or "…" for a function that still raises ``NotImplementedError``
(so the notebook runs top to bottom before the exercises are solved)."""

import inspect
import time

import torch

from .ch02 import generate_text_basic
from .tiny_model import tiny_qwen3_model


class _Failed(Exception):
    pass


def _run_check(title, body):
    try:
        body()
    except NotImplementedError:
        print(f"… {title}: not done yet. Fill in the function above and "
              "run this cell again.")
    except _Failed as exc:
        print(f"✗ {title}: {exc}")
    except Exception as exc:  # the reader's code crashed: say where
        print(f"✗ {title}: your function raised "
              f"{type(exc).__name__}: {exc}")
    else:
        print(f"✓ {title}: all checks passed.")


# Exercise 2.1 ---------------------------------------------------------------

EXERCISE_2_1_TEXTS = [
    "Hello, Ardwarklethyrx. Haus und Garten.",
    "Explain large language models.",
    "naïve café, 東京, 🙂",
]


def check_token_table(your_function, tokenizer, texts=EXERCISE_2_1_TEXTS):
    """Exercise 2.1: ``your_function(tokenizer, text)`` returns the list of
    ``(token_id, token_text)`` pairs, one per token, in order."""

    def body():
        for text in texts:
            expected = [(i, tokenizer.decode([i]))
                        for i in tokenizer.encode(text)]
            got = your_function(tokenizer, text)
            if not isinstance(got, (list, tuple)):
                raise _Failed(
                    f"return a list of (token_id, token_text) pairs, "
                    f"got {type(got).__name__}"
                )
            got = [tuple(pair) for pair in got]
            if [p[0] for p in got] != [p[0] for p in expected]:
                raise _Failed(
                    f"for {text!r} the token ids should be "
                    f"{[p[0] for p in expected]}, got {[p[0] for p in got]} "
                    "(use tokenizer.encode)"
                )
            if got != expected:
                raise _Failed(
                    f"for {text!r} decode each id on its own, "
                    "tokenizer.decode([token_id]): expected "
                    f"{expected}, got {got}"
                )
            joined = "".join(piece for _, piece in got)
            if "\ufffd" not in joined and joined != text:
                raise _Failed(f"the pieces should join to {text!r}")

    _run_check("Exercise 2.1 (token table)", body)


# Exercise 2.2 ---------------------------------------------------------------

_PROMPTS = torch.tensor([[1, 5, 9, 2, 7], [3, 3, 8, 1, 4]])


def check_streaming(your_function, reference=generate_text_basic,
                    model=None):
    """Exercise 2.2: ``your_function(model, token_ids, max_new_tokens,
    eos_token_id=None)`` yields one (batch, 1) tensor per new token and
    produces exactly the tokens that ``reference`` returns."""
    if model is None:
        model = tiny_qwen3_model()

    def body():
        one = _PROMPTS[:1]
        if not inspect.isgeneratorfunction(your_function):
            your_function(model, one, 1)  # an unfinished stub raises here
            raise _Failed(
                "a streaming function must `yield` each token instead of "
                "returning them all at the end"
            )
        expected = reference(model, one, 10)
        got = list(your_function(model, one, 10))
        _compare_stream(got, expected, "without EOS")

        eos = int(expected[0, 4])
        expected_eos = reference(model, one, 10, eos_token_id=eos)
        got_eos = list(your_function(model, one, 10, eos_token_id=eos))
        _compare_stream(got_eos, expected_eos, f"with eos_token_id={eos}")

        if list(your_function(model, one, 0)) != []:
            raise _Failed("max_new_tokens=0 should yield nothing")

        expected_batch = reference(model, _PROMPTS, 6)
        got_batch = list(your_function(model, _PROMPTS, 6))
        _compare_stream(got_batch, expected_batch, "for a batch of 2")

    _run_check("Exercise 2.2 (streaming)", body)


def _compare_stream(got, expected, case):
    for token in got:
        if not isinstance(token, torch.Tensor) or token.dim() != 2:
            raise _Failed(
                f"{case}: yield each token as a (batch, 1) tensor, like "
                f"next_token in the book's loop; got {token!r}"
            )
    if len(got) != expected.shape[1]:
        raise _Failed(
            f"{case}: expected {expected.shape[1]} tokens, got {len(got)}"
            + (" (stop before yielding EOS)" if "eos" in case else "")
        )
    if got and not torch.equal(torch.cat(got, dim=1), expected):
        raise _Failed(
            f"{case}: expected tokens {expected.tolist()}, got "
            f"{torch.cat(got, dim=1).tolist()}"
        )


# Exercise 2.3 ---------------------------------------------------------------


def check_tokens_per_second(your_function, seconds=0.2, n_new=10):
    """Exercise 2.3: ``your_function(generate_fn, model, token_ids,
    max_new_tokens, device)`` times one call of ``generate_fn`` and returns
    the number of *generated* tokens per second."""

    calls = []

    def slow_generate(model, token_ids, max_new_tokens, eos_token_id=None):
        calls.append(max_new_tokens)
        time.sleep(seconds)
        return torch.ones(token_ids.shape[0], max_new_tokens,
                          dtype=torch.long)

    def body():
        prompt = torch.ones(1, 5, dtype=torch.long)
        result = your_function(slow_generate, None, prompt, n_new,
                               torch.device("cpu"))
        if calls != [n_new]:
            raise _Failed(
                f"call generate_fn exactly once with max_new_tokens="
                f"{n_new}; it was called with {calls}"
            )
        if not isinstance(result, (int, float)):
            raise _Failed(
                f"return tokens per second as a number, got {result!r}"
            )
        expected = n_new / seconds
        if abs(result - (n_new + 5) / seconds) < 0.1 * expected:
            raise _Failed(
                "count only the generated tokens, not the prompt tokens"
            )
        if abs(result - seconds / n_new) < 1:
            raise _Failed("return tokens/second, not seconds/token")
        # Generous bounds: the machine may be busy
        if not 0.5 * expected <= result <= 1.05 * expected:
            raise _Failed(
                f"generating {n_new} tokens in about {seconds} s is about "
                f"{expected:.0f} tokens/sec, got {result:.1f}"
            )

    _run_check("Exercise 2.3 (tokens per second)", body)
