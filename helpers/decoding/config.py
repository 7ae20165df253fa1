"""``GenerationConfig``: every decoding option in one object, checked once.

The options are named as in Hugging Face transformers' class of the same
name, with one difference: there is no ``do_sample``; ``temperature=0``
(the default) is the book's greedy decoding, any other temperature
samples. What depends on the model (token ids, the context length) is
checked where the model is known, in ``validation.py``.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass, field

from .validation import check_non_negative_int, eos_ids, is_int, is_real

# Below this, dividing logits by the temperature (or by the penalty) can
# overflow float32 into inf, and sampling into NaN
SMALLEST = 1e-6


# The sampling filters, None when not used
FILTERS = ("top_k", "top_p", "min_p")
# option -> (is the value allowed, what it must be, a hint); NaN fails
# every comparison, so it is refused too
RULES = {
    "temperature": (
        lambda v: is_real(v) and (v == 0 or SMALLEST <= v < math.inf),
        f"0 or a number >= {SMALLEST:g}",
        "use 0 for greedy decoding, about 0.7-1.0 for varied text"),
    "top_k": (lambda v: is_int(v) and v >= 1, "an integer >= 1",
              "for example top_k=50"),
    "top_p": (lambda v: is_real(v) and 0 < v <= 1,
              "a number with 0 < top_p <= 1", "for example top_p=0.9"),
    "min_p": (lambda v: is_real(v) and 0 <= v <= 1,
              "a number with 0 <= min_p <= 1", "for example min_p=0.05"),
    "repetition_penalty": (
        lambda v: is_real(v) and SMALLEST <= v < math.inf,
        f"a finite number >= {SMALLEST:g}",
        "1.0 changes nothing, about 1.1-1.3 discourages repeating the "
        "tokens of the text so far"),
}


def check_option(name, value):
    """Raise ``ValueError`` unless ``value`` is allowed for ``name``."""
    allowed, must_be, hint = RULES[name]
    if not allowed(value):
        raise ValueError(f"{name} must be {must_be}, got {value!r}; {hint}.")


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding options, in transformers' names.

    - ``max_new_tokens``: at most this many new tokens.
    - ``repetition_penalty`` (1.0: off), then, when ``temperature`` > 0,
      ``top_k``, ``top_p`` and ``min_p``, applied in that order to the
      logits; ``temperature=0`` is greedy decoding.
    - ``eos_token_id`` (an int or a list): stop before it, as the book's
      loops do; ``stop_strings`` (matched in the text: the call needs the
      ``tokenizer``) and ``stop_sequences`` (lists of token ids): stop
      after the token that completes one.
    - ``pad_token_id``: what a finished row of a batch gets (default: the
      first EOS id).
    - ``num_beams``, ``length_penalty``, ``early_stopping``: beam search.
    - ``output_scores``: ``generate`` returns each token's log-probability.
    """

    max_new_tokens: int
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float = 1.0
    eos_token_id: int | list | None = None
    pad_token_id: int | None = None
    stop_strings: list | None = None
    stop_sequences: list | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    output_scores: bool = False
    # Derived: the EOS ids, the stop strings and the stop sequences
    eos: tuple = field(init=False, repr=False)
    strings: tuple = field(init=False, repr=False)
    sequences: list = field(init=False, repr=False)

    def __post_init__(self):
        check_non_negative_int("max_new_tokens", self.max_new_tokens)
        for name in RULES:
            if name not in FILTERS or getattr(self, name) is not None:
                check_option(name, getattr(self, name))
        set_ = functools.partial(object.__setattr__, self)  # frozen
        set_("eos", eos_ids(self.eos_token_id))
        if self.pad_token_id is not None and not is_int(self.pad_token_id):
            raise TypeError(
                f"pad_token_id must be an int or None, got "
                f"{self.pad_token_id!r}; use tokenizer.pad_token_id."
            )
        set_("strings", check_stop_strings(self.stop_strings or ()))
        set_("sequences", _check_stop_sequences(self.stop_sequences))
        self._check_beam_search()
        # Numbers torch can use: a Fraction or a NumPy scalar passes the
        # checks above and would fail mid-generation
        for name, kind in (("temperature", float), ("top_p", float),
                           ("min_p", float), ("repetition_penalty", float),
                           ("length_penalty", float), ("top_k", int),
                           ("max_new_tokens", int)):
            if getattr(self, name) is not None:
                set_(name, kind(getattr(self, name)))
        filters = [name for name in FILTERS
                   if getattr(self, name) is not None]
        if filters and not self.do_sample:
            raise ValueError(
                f"{', '.join(filters)} only apply when sampling: add a "
                "temperature, for example temperature=0.7 (0 is greedy)."
            )
        if not isinstance(self.output_scores, bool):
            raise TypeError(f"output_scores must be True or False, got "
                            f"{self.output_scores!r}.")

    @property
    def do_sample(self):
        return self.temperature > 0

    @property
    def pad(self):
        """The id that fills rows that finished: ``pad_token_id``, or the
        first EOS id, or None."""
        if self.pad_token_id is not None:
            return self.pad_token_id
        return self.eos[0] if self.eos else None

    def _check_beam_search(self):
        name = "num_beams (beam_search's beam_width)"
        check_non_negative_int(name, self.num_beams)
        if self.num_beams < 1:
            raise ValueError(f"{name} must be >= 1, got {self.num_beams}; "
                             "1 is greedy decoding, 4 is a common choice.")
        if not is_real(self.length_penalty):
            raise TypeError(f"length_penalty must be a number, got "
                            f"{self.length_penalty!r}.")
        if not math.isfinite(self.length_penalty):
            raise ValueError(
                f"length_penalty must be a finite number, got "
                f"{self.length_penalty!r}; 1.0 (the default) divides a "
                "beam's score by its length, 0 compares raw sums."
            )
        if not (isinstance(self.early_stopping, bool)
                or self.early_stopping == "never"):
            raise ValueError(f"early_stopping must be True, False or "
                             f"'never', got {self.early_stopping!r}.")
        # Beam search keeps the most probable sequences: options that
        # change what is probable or end a beam early do not go with it
        given = [name for name, used in (
            ("temperature", self.temperature > 0),
            ("top_k", self.top_k is not None),
            ("top_p", self.top_p is not None),
            ("min_p", self.min_p is not None),
            ("repetition_penalty", self.repetition_penalty != 1.0),
            ("stop_strings", bool(self.strings)),
            ("stop_sequences", bool(self.sequences)),
        ) if used]
        if self.num_beams > 1 and given:
            raise ValueError(
                f"beam search (num_beams={self.num_beams}) does not go "
                f"with {', '.join(given)}: it searches the most probable "
                "answer; use num_beams=1 to sample or to stop at a text."
            )


def check_stop_strings(stop_strings):
    """The stop strings (one string, or a list of them) as a tuple."""
    if isinstance(stop_strings, str):
        stop_strings = [stop_strings]
    try:
        strings = tuple(stop_strings)
    except TypeError:
        raise TypeError(
            f"stop_strings must be a list of strings, got "
            f"{type(stop_strings).__name__}; for example "
            "stop_strings=['\\n\\n']."
        ) from None
    for text in strings:
        if not isinstance(text, str):
            raise TypeError(f"stop_strings must hold strings, got {text!r}; "
                            "for token ids use stop_sequences.")
        if not text:
            raise ValueError("stop_strings holds an empty string, which "
                             "would stop at once; remove it.")
    return strings


def _check_stop_sequences(stop_sequences):
    hint = "; for text, use stop_strings=[...] and tokenizer=tokenizer."
    if stop_sequences is None:
        return []
    if isinstance(stop_sequences, (str, bytes)):
        raise TypeError(f"stop_sequences must be a list of lists of token "
                        f"ids, got {stop_sequences!r}{hint}")
    sequences = list(stop_sequences)  # a generator is read once, here
    if not all(isinstance(seq, (list, tuple)) and seq
               and all(map(is_int, seq)) for seq in sequences):
        raise TypeError(f"stop_sequences must be a list of non-empty lists "
                        f"of token ids, got {sequences!r}{hint}")
    return [list(seq) for seq in sequences]


def make_config(config, max_new_tokens, options, caller):
    """The call's ``GenerationConfig``: ``config`` as given, or one built
    from ``max_new_tokens`` and the keyword ``options``, never both.
    ``generate`` and ``generate_stream`` do not search beams."""
    if config is None:
        names = {f.name for f in dataclasses.fields(GenerationConfig)
                 if f.init}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TypeError(
                f"{caller}() got an unknown option: {', '.join(unknown)}; "
                f"the options are {', '.join(sorted(names))}."
            )
        config = GenerationConfig(max_new_tokens, **options)
    elif not isinstance(config, GenerationConfig):
        raise TypeError(f"config must be a GenerationConfig, got {config!r}.")
    elif options or max_new_tokens is not None:
        raise TypeError(
            f"{caller}() takes its options either as config=... or as "
            "keywords, not both: put max_new_tokens and "
            f"{', '.join(options) or 'the rest'} into the config."
        )
    if config.num_beams != 1:
        raise ValueError(
            f"{caller}() does not search beams (num_beams="
            f"{config.num_beams}): use beam_search(..., beam_width="
            f"{config.num_beams})."
        )
    return config
