"""Beyond the book: every decoding option in one object, checked once.

``GenerationConfig`` holds the options of ``generate``,
``generate_stream``, ``beam_search``, ``FastGenerator`` and
``ch02-generate``, named as in Hugging Face transformers' class of the
same name. Its constructor checks every value, so a typo fails at the
call, in one line that says what to use, and the loop that runs per
token checks nothing. One difference from transformers: there is no
``do_sample``; ``temperature=0`` (the default) is greedy decoding, as in
the book, and any other temperature samples.

What depends on the model (token ids in its vocabulary, the context
length) is checked where the model is known: ``validation.py``.
"""

import dataclasses
import math
from dataclasses import dataclass, field

from .sampling import check_sampling_args
from .stopping import check_stop_strings
from .validation import check_non_negative_int, eos_ids, is_int


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
    # Derived: the EOS ids as a tuple, the stop sequences as lists
    eos: tuple = field(init=False, repr=False)
    strings: tuple = field(init=False, repr=False)
    sequences: list = field(init=False, repr=False)

    def __post_init__(self):
        check_non_negative_int("max_new_tokens", self.max_new_tokens)
        check_sampling_args(self.temperature, self.top_k, self.top_p,
                            self.min_p, self.repetition_penalty)
        object.__setattr__(self, "eos", eos_ids(self.eos_token_id))
        if self.pad_token_id is not None and not is_int(self.pad_token_id):
            raise TypeError(
                f"pad_token_id must be an int or None, got "
                f"{self.pad_token_id!r}; use tokenizer.pad_token_id."
            )
        # The tokenizer that stop strings need comes with the call
        object.__setattr__(self, "strings",
                           check_stop_strings(self.stop_strings or ()))
        object.__setattr__(self, "sequences",
                           _check_stop_sequences(self.stop_sequences))
        self._check_beam_search()
        # Numbers that torch can use: a Fraction or a NumPy scalar passes
        # the checks above, and would fail mid-generation
        for name, kind in (("temperature", float), ("top_p", float),
                           ("min_p", float), ("repetition_penalty", float),
                           ("top_k", int), ("max_new_tokens", int),
                           ("length_penalty", float)):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, kind(getattr(self, name)))
        filters = [name for name in ("top_k", "top_p", "min_p")
                   if getattr(self, name) is not None]
        if filters and not self.do_sample:
            raise ValueError(
                f"{', '.join(filters)} only apply when sampling: add a "
                "temperature, for example temperature=0.7 (0 is greedy)."
            )
        if not isinstance(self.output_scores, bool):
            raise TypeError(
                f"output_scores must be True or False, got "
                f"{self.output_scores!r}."
            )

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
        check_non_negative_int("num_beams (beam_search's beam_width)",
                               self.num_beams)
        if self.num_beams < 1:
            raise ValueError(
                f"num_beams (beam_search's beam_width) must be >= 1, got "
                f"{self.num_beams}; 1 is greedy decoding, 4 is a common "
                "choice."
            )
        if (not isinstance(self.length_penalty, (int, float))
                or isinstance(self.length_penalty, bool)):
            raise TypeError(
                f"length_penalty must be a number, got "
                f"{self.length_penalty!r}."
            )
        if not math.isfinite(self.length_penalty):
            raise ValueError(
                f"length_penalty must be a finite number, got "
                f"{self.length_penalty!r}; 1.0 (the default) divides a "
                "beam's score by its length, 0 compares raw sums."
            )
        if not (isinstance(self.early_stopping, bool)
                or self.early_stopping == "never"):
            raise ValueError(
                f"early_stopping must be True, False or 'never', got "
                f"{self.early_stopping!r}."
            )
        if self.num_beams == 1:
            return
        # Beam search keeps the most probable sequences: options that
        # change what is probable or end a beam early do not go with it
        not_with_beams = {
            "temperature": self.temperature > 0,
            "top_k": self.top_k is not None,
            "top_p": self.top_p is not None,
            "min_p": self.min_p is not None,
            "repetition_penalty": self.repetition_penalty != 1.0,
            "stop_strings": bool(self.strings),
            "stop_sequences": bool(self.sequences),
        }
        given = [name for name, used in not_with_beams.items() if used]
        if given:
            raise ValueError(
                f"beam search (num_beams={self.num_beams}) does not go "
                f"with {', '.join(given)}: it searches the most probable "
                "answer; use num_beams=1 to sample or to stop at a text."
            )


def _check_stop_sequences(stop_sequences):
    if stop_sequences is None:
        return []
    if isinstance(stop_sequences, (str, bytes)):
        raise TypeError(
            f"stop_sequences must be a list of lists of token ids, got "
            f"{stop_sequences!r}; for text, use stop_strings=[...] and "
            "tokenizer=tokenizer."
        )
    sequences = list(stop_sequences)  # a generator is read once, here
    if not all(isinstance(seq, (list, tuple)) and seq
               and all(map(is_int, seq)) for seq in sequences):
        raise TypeError(
            "stop_sequences must be a list of non-empty lists of token "
            f"ids, got {sequences!r}; for text, use stop_strings=[...] "
            "and tokenizer=tokenizer."
        )
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
        raise TypeError(
            f"config must be a GenerationConfig, got {config!r}."
        )
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
