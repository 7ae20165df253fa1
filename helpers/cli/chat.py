"""A conversation in the Qwen3 chat template (``ch02-generate --chat``):
every message goes to the model after the turns before it, each in
``<|im_start|>user ... <|im_end|>`` and ``<|im_start|>assistant ...``
blocks. Without ``thinking`` an empty ``<think>`` block asks for an
answer without reasoning; earlier answers are kept without theirs, as
Qwen's template does; the oldest turns go when the context is full."""

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


class Conversation:
    """The turns so far, and the prompt for the next answer."""

    def __init__(self, tokenizer, thinking=False):
        self.tokenizer = tokenizer
        self.thinking = thinking
        self.turns = []  # (user message, answer) pairs

    def reset(self):
        self.turns = []

    def add(self, message, answer):
        """Remember a finished turn (the answer without its reasoning)."""
        self.turns.append((message, _without_reasoning(answer)))

    def prompt_ids(self, message, budget):
        """Token ids for ``message`` after the turns so far, in at most
        ``budget`` tokens: the oldest turns are dropped until it fits.
        Returns ``(ids, n_dropped)``; raises ``ValueError`` if the message
        alone does not fit."""
        for n_dropped in range(len(self.turns) + 1):
            ids = self._encode(self.turns[n_dropped:], message)
            if len(ids) <= budget:
                del self.turns[:n_dropped]
                return ids, n_dropped
        raise ValueError(
            f"this message needs {len(ids)} tokens, more than the "
            f"{budget} left for a prompt: write a shorter message, or "
            "raise --context-length or lower --max-new-tokens."
        )

    def _encode(self, turns, message):
        text = "".join(
            f"{IM_START}user\n{user}{IM_END}\n"
            f"{IM_START}assistant\n{answer}{IM_END}\n"
            for user, answer in turns
        )
        text += f"{IM_START}user\n{message}{IM_END}\n{IM_START}assistant\n"
        if not self.thinking:
            text += "<think>\n\n</think>\n\n"
        return self.tokenizer.encode(text, chat_wrapped=False)


def _without_reasoning(answer):
    """The answer after a ``</think>`` block, if there is one."""
    if "</think>" in answer:
        answer = answer.split("</think>", 1)[1]
    return answer.strip()
