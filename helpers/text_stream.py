"""Turn a stream of token ids into a stream of text (the chapter's
streaming demo, the decoding notebook and ``ch02-generate``).

One character can span several byte-level tokens (many emoji and rarer CJK
characters do). Decoding each token alone would print "�" for the pieces.
``stream_text`` decodes only the last few tokens, from the last point where
the text was complete, and hands out a piece once it ends in complete
characters: linear in the length of the answer, and never half a
character.
"""

from .decoding.stopping import StopStrings

REPLACEMENT_CHAR = "\ufffd"


def stream_text(token_stream, tokenizer, stop_strings=None,
                prompt_ids=None):
    """Yield the new text as the stream of token ids grows.

    ``token_stream`` yields ints or (1, 1) tensors. With ``stop_strings``,
    the text ends right after the first stop string, where
    ``generate_stream(..., stop_strings=...)`` stops; give the prompt's
    ``prompt_ids`` too, so that a stop string that begins in the prompt is
    found as it is by ``generate_stream``.
    """
    stops = StopStrings(stop_strings or (), tokenizer)
    longest = max(map(len, stops.strings), default=0)
    # The last characters before the new piece, for stop strings that
    # began earlier
    before = ""
    if stops.strings and prompt_ids is not None:
        before = tokenizer.decode(list(prompt_ids)[-stops.window:])
    ids = []
    prefix_offset = read_offset = 0  # decode ids[prefix_offset:]
    for token in token_stream:
        ids.append(int(token))
        known = tokenizer.decode(ids[prefix_offset:read_offset])
        text = tokenizer.decode(ids[prefix_offset:])
        if len(text) <= len(known) or text.endswith(REPLACEMENT_CHAR):
            continue  # wait for the rest of the character
        piece = text[len(known):]
        if stops.strings:
            context = before[-longest:] if longest > 1 else ""
            end = stops.first_end(context + piece, start=len(context))
            if end is not None:
                yield piece[:end - len(context)]
                return
            before = (before + piece)[-longest:]
        yield piece
        prefix_offset, read_offset = read_offset, len(ids)
    rest = tokenizer.decode(ids[prefix_offset:])
    known = tokenizer.decode(ids[prefix_offset:read_offset])
    if len(rest) > len(known):  # the stream ended mid-character
        yield rest[len(known):]
