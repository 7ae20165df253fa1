"""Turn a stream of token ids into a stream of text (Exercise 2.2, the
decoding notebook and ``ch02-generate``).

One character can span several byte-level tokens (many emoji and rarer CJK
characters do). Decoding each token alone would print "�" for the pieces;
decoding the growing buffer and emitting only the new, complete text never
does.
"""

REPLACEMENT_CHAR = "\ufffd"


def stream_text(token_stream, tokenizer):
    """Yield the new text each time the decoded buffer grows by complete
    characters. ``token_stream`` yields ints or (1, 1) tensors."""
    ids = []
    emitted = ""
    for token in token_stream:
        ids.append(int(token))
        text = tokenizer.decode(ids)
        if text.endswith(REPLACEMENT_CHAR):
            continue  # wait for the rest of the character
        yield text[len(emitted):]
        emitted = text
    text = tokenizer.decode(ids)
    if len(text) > len(emitted):  # the stream ended mid-character
        yield text[len(emitted):]
