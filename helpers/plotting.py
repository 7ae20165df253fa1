"""Plot labels for tokens that any font can draw (section 2.6 and the
decoding-strategies notebook).

A token can be any piece of text: a CJK character, part of an emoji, a
byte that is not valid UTF-8 on its own. Matplotlib's default font draws
only some of them and warns ("Glyph ... missing from font") for the rest.
``token_label`` shows a token with ``repr`` when the font has every
character, and with escapes (``'\\u6771'``) when it does not.
"""

from functools import lru_cache

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font


@lru_cache(maxsize=1)
def _drawable_codepoints():
    path = font_manager.findfont(font_manager.FontProperties())
    return frozenset(FT2Font(path).get_charmap())


def token_label(text):
    """``repr(text)`` if the default font can draw it, else ``ascii``."""
    label = repr(text)
    if all(ord(char) in _drawable_codepoints() for char in label):
        return label
    return ascii(text)
