"""An exception in one line, for messages that say what failed."""


def one_line(exc, named=False):
    """The message of ``exc`` with its white space folded into one line.
    With ``named`` (for an error from inside a library, whose later lines
    are details), its type's name and its first line, at most 200
    characters."""
    if not named:
        return " ".join(str(exc).split()) or type(exc).__name__
    text = (str(exc).strip().splitlines() or [""])[0].strip()
    if len(text) > 200:
        text = text[:199] + "…"
    return f"{type(exc).__name__}: {text}".rstrip(": ")
