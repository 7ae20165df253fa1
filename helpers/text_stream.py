"""A stream of token ids as a stream of text. A character can span
several tokens (emoji, rarer CJK characters): ``stream_text`` decodes from
the last point where the text was complete and hands out whole
characters only, in time linear in the answer's length."""

from .decoding.stopping import StopStrings

REPLACEMENT_CHAR = "\ufffd"


def stream_text(token_stream, tokenizer, stop_strings=None,
                prompt_ids=None):
    """Yield the new text as ``token_stream`` (ints or (1, 1) tensors)
    grows. With ``stop_strings`` it ends right after the first one, as
    ``generate_stream`` stops; ``prompt_ids`` find one begun in the
    prompt."""
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
