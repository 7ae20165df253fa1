"""``ch02-generate``: generate text with Qwen3 0.6B from the command line.

    uv run ch02-generate --prompt "Explain large language models."
    uv run ch02-generate --temperature 0.7 --top-p 0.9   # interactive

Without ``--prompt`` it asks for prompts until ``/exit``, ``/quit`` or
Ctrl+D; Ctrl+C stops the current answer, not the program. Tokens are printed
as they are generated, then the number of tokens, the seconds and the
tokens/sec (on standard error, so standard output holds only the text).
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch

EXIT_COMMANDS = {"/exit", "/quit"}


class _Parser(argparse.ArgumentParser):
    """Report a bad argument in one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    parser = _Parser(
        prog="ch02-generate",
        description="Generate text with Qwen3 0.6B (Chapter 2).",
    )
    parser.add_argument("--prompt", help="generate once for this prompt; "
                        "without it, ask for prompts interactively")
    parser.add_argument("--kind", choices=["base", "reasoning"],
                        default="base", help="which model (default: base)")
    parser.add_argument("--chat", action="store_true",
                        help="wrap the prompt in the Qwen3 chat template")
    parser.add_argument("--max-new-tokens", type=_non_negative_int,
                        default=256, metavar="N",
                        help="generate at most N tokens (default: 256)")
    parser.add_argument("--temperature", type=_non_negative_float,
                        default=0.0, help="0 is greedy (default); "
                        "0.7-1.0 gives varied text")
    parser.add_argument("--top-k", type=_positive_int, metavar="K",
                        help="sample only from the K most likely tokens")
    parser.add_argument("--top-p", type=_probability, metavar="P",
                        help="sample only from the most likely tokens "
                        "that together have probability P")
    parser.add_argument("--seed", type=int,
                        help="random seed, for reproducible sampling")
    parser.add_argument("--stop", action="append", default=[],
                        metavar="TEXT", help="stop once the output ends "
                        "with TEXT (repeatable)")
    parser.add_argument("--beam-width", type=_positive_int, default=1,
                        metavar="W", help="beam search with W beams "
                        "(default 1: no beam search)")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the KV cache (slower)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (slow first answer)")
    parser.add_argument("--device", default="auto",
                        choices=["auto", "cpu", "cuda", "mps", "xpu"],
                        help="where to run (default: the fastest found)")
    parser.add_argument("--out-dir", default="qwen3", type=Path,
                        help="folder for the model files (default: qwen3)")
    return parser


def _non_negative_int(text):
    value = _parse(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text):
    value = _parse(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_float(text):
    value = _parse(text, float, "a number")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _probability(text):
    value = _parse(text, float, "a number")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"must be between 0 (excluded) and 1, got {text}"
        )
    return value


def _parse(text, kind, what):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {what}, got {text!r}"
        ) from None


def check_combinations(parser, args):
    if args.beam_width > 1 and (args.temperature > 0 or args.top_k
                                or args.top_p):
        parser.error("--beam-width does not sample: leave out "
                     "--temperature, --top-k and --top-p")
    if args.beam_width > 1 and args.no_cache:
        parser.error("--beam-width needs the KV cache: leave out "
                     "--no-cache")
    if (args.top_k or args.top_p) and args.temperature == 0:
        parser.error("--top-k and --top-p only apply when sampling: add "
                     "--temperature, for example --temperature 0.7")
    if any(not text for text in args.stop):
        parser.error("--stop needs a non-empty text")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_combinations(parser, args)

    from .download import WeightsNotAvailableError

    try:
        # Download and device messages go to stderr, like the statistics
        with contextlib.redirect_stdout(sys.stderr):
            model, tokenizer, device = load(args)
    except WeightsNotAvailableError as exc:
        print(f"ch02-generate: the model is not available.\n{exc}",
              file=sys.stderr)
        return 1
    generator = None
    if args.seed is not None:
        generator = torch.Generator(device=device).manual_seed(args.seed)
    stop_sequences = [tokenizer.encode(text, chat_wrapped=False)
                      for text in args.stop]

    def answer(prompt):
        run(model, tokenizer, device, prompt, args, stop_sequences,
            generator)

    if args.prompt is not None:
        answer(args.prompt)
        return 0
    return interactive(answer)


def load(args):
    """Download (if needed) and load the tokenizer and model."""
    from reasoning_from_scratch.qwen3 import (
        QWEN_CONFIG_06_B,
        Qwen3Model,
        Qwen3Tokenizer,
    )

    from .device import get_device
    from .download import download_qwen3_small

    paths = download_qwen3_small(kind=args.kind, out_dir=args.out_dir)
    tokenizer = Qwen3Tokenizer(
        tokenizer_file_path=paths["tokenizer"],
        apply_chat_template=args.chat,
        add_generation_prompt=args.chat,
        add_thinking=args.kind == "reasoning",
    )
    if args.device == "auto":
        device = get_device()
    else:
        device = torch.device(args.device)
    model = Qwen3Model(QWEN_CONFIG_06_B)
    model.load_state_dict(
        torch.load(paths["model"], map_location="cpu", weights_only=True)
    )
    model.to(device)
    if args.compile:
        torch._dynamo.config.allow_unspec_int_on_nn_module = True
        model = torch.compile(model)
    return model, tokenizer, device


def run(model, tokenizer, device, prompt, args, stop_sequences, generator):
    """Generate one answer, streaming it to standard output."""
    from .decoding import beam_search, generate_stream
    from .text_stream import stream_text
    from .timing import synchronize

    token_ids = torch.tensor(tokenizer.encode(prompt),
                             device=device).unsqueeze(0)
    n_tokens = 0

    def counted(stream):
        nonlocal n_tokens
        for token in stream:
            n_tokens += 1
            yield token

    synchronize(device)
    start = time.perf_counter()
    try:
        if args.beam_width > 1:
            tokens, _ = beam_search(
                model, token_ids, args.max_new_tokens, args.beam_width,
                eos_token_id=tokenizer.eos_token_id,
            )
            stream = counted(tokens[0].tolist())
        else:
            stream = counted(generate_stream(
                model, token_ids, args.max_new_tokens,
                temperature=args.temperature, top_k=args.top_k,
                top_p=args.top_p, eos_token_id=tokenizer.eos_token_id,
                stop_sequences=stop_sequences, generator=generator,
                use_cache=not args.no_cache,
            ))
        for text in stream_text(stream, tokenizer):
            print(text, end="", flush=True)
        stopped = ""
    except KeyboardInterrupt:
        stopped = " (stopped)"
    synchronize(device)
    seconds = time.perf_counter() - start
    print(flush=True)
    speed = n_tokens / seconds if seconds > 0 else 0.0
    print(f"[{n_tokens} tokens, {seconds:.2f} s, {speed:.1f} tokens/sec"
          f"{stopped}]", file=sys.stderr, flush=True)


def interactive(answer):
    print("Type a prompt and press Enter; /exit or /quit (or Ctrl+D) "
          "leaves, Ctrl+C stops an answer.", file=sys.stderr)
    while True:
        try:
            prompt = input(">>> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print(file=sys.stderr)
            continue
        if prompt.strip() in EXIT_COMMANDS:
            return 0
        if prompt.strip():
            answer(prompt)


if __name__ == "__main__":
    sys.exit(main())
