"""Plot labels for tokens that the default font can draw, escaped
(``'\\u6771'``) where it cannot, instead of a "Glyph missing" warning."""

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
