"""A generated text coloured by each token's probability, red (unlikely)
through yellow to green (nearly certain), from ``generate(...,
output_scores=True)`` (bonus notebook 02, section 7)."""

import html

from matplotlib import colormaps
from matplotlib.colors import to_hex

_COLOURS = colormaps["RdYlGn"]
_STYLE = ("font-family: monospace; white-space: pre-wrap; "
          "line-height: 1.9; color: black")


def token_pieces(token_ids, probabilities, tokenizer):
    """``(text, probability)`` for each printable piece of the tokens:
    usually one token each; the tokens of a character that no single
    token completes are merged, with the product of their
    probabilities."""
    token_ids, probabilities = list(token_ids), list(probabilities)
    if len(token_ids) != len(probabilities):
        raise ValueError(
            f"{len(token_ids)} token ids but {len(probabilities)} "
            "probabilities: pass the sequences and scores.exp() of one "
            "generate(..., output_scores=True) row."
        )
    pieces, printed, joint = [], "", 1.0
    for k, p in enumerate(probabilities):
        joint *= float(p)
        text = tokenizer.decode(token_ids[:k + 1])
        if text.endswith("\ufffd") and k + 1 < len(token_ids):
            continue  # half a character: wait for the rest
        pieces.append((text[len(printed):], joint))
        printed, joint = text, 1.0
    return pieces


def confidence_html(token_ids, probabilities, tokenizer):
    """HTML of the text of ``token_ids``, each piece coloured by its
    probability (``probabilities``: one per token, 0 to 1), and a legend;
    show it with ``IPython.display.HTML``."""
    spans = "".join(
        _span(text, p, f"p = {p:.3f}")
        for text, p in token_pieces(token_ids, probabilities, tokenizer)
    )
    legend = " ".join(_span(f" {p:.2f} ", p, "") for p in
                      (0.0, 0.25, 0.5, 0.75, 1.0))
    return (f'<div style="{_STYLE}">{spans}</div>'
            f'<div style="{_STYLE}; margin-top: 0.5em">probability of '
            f"each token: {legend}</div>")


def _span(text, p, title):
    colour = to_hex(_COLOURS(min(max(p, 0.0), 1.0)))
    return (f'<span style="background: {colour}" '
            f'title="{html.escape(title)}">{html.escape(text)}</span>')
