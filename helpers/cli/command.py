"""``ch02-generate``: generate text with Qwen3 0.6B from the command line.

    uv run ch02-generate --prompt "Explain large language models."
    uv run ch02-generate --temperature 0.7 --top-p 0.9   # interactive
    uv run ch02-generate --chat                           # a conversation

Without ``--prompt`` it asks for prompts until ``/exit``, ``/quit`` or
Ctrl+D; Ctrl+C stops an answer. Standard output holds only the text; the
statistics and notices go to standard error. The ``fast`` engine
(``FastGenerator``) answers where ``torch.compile`` works, else ``book``
(the book's model and ``KVCache``). A bad argument ends with one line and
exit status 2 before anything loads; a failed download or a broken file
with 1; Ctrl+C while loading with 130.
"""

import argparse
import contextlib
import dataclasses
import functools
import io
import re
import sys
import time
from pathlib import Path

import torch

from ..arg_types import (
    add_dtype_argument,
    int_at_least,
    parse_number,
    usable_device,
    usable_dtype,
)
from ..decoding import GenerationConfig
from ..errors import one_line

# A decoding option's range is GenerationConfig's to check: here only
# that it is a number
_positive_int = int_at_least(1)
_whole_number = functools.partial(parse_number, kind=int,
                                  what="a whole number")
_number = functools.partial(parse_number, kind=float, what="a number")

# GenerationConfig's options, as the command takes them: flag, type
# (None: a text, repeatable), metavar and help; defaults are the config's
DECODING = {
    "max_new_tokens": ("--max-new-tokens", _whole_number, "N",
                       "generate at most N tokens (default: 256)"),
    "temperature": ("--temperature", _number, "T",
                    "0 is greedy (default); 0.7-1.0 gives varied text"),
    "top_k": ("--top-k", _whole_number, "K",
              "sample only from the K most likely tokens"),
    "top_p": ("--top-p", _number, "P", "sample only from the most likely "
              "tokens that together have probability P"),
    "min_p": ("--min-p", _number, "P", "sample only from tokens at least P "
              "times as likely as the most likely one"),
    "repetition_penalty": ("--repetition-penalty", _number, "R",
                           "make the tokens of the text so far R times "
                           "less likely (1.1-1.3 curbs repetition; "
                           "default 1.0: off)"),
    "stop_strings": ("--stop", None, "TEXT",
                     "stop once the text reaches TEXT (repeatable)"),
    "num_beams": ("--beam-width", _whole_number, "W",
                  "beam search with W beams (default 1: no beam search)"),
}
EXIT_COMMANDS = {"/exit", "/quit"}
RESET_COMMAND = "/reset"
MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed accepts
IM_END = "<|im_end|>"


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
                        help="use the Qwen3 chat template; interactively, "
                        "keep the conversation (/reset starts over)")
    defaults = {f.name: f.default for f in dataclasses.fields(
        GenerationConfig) if f.default is not dataclasses.MISSING}
    for name, (flag, kind, metavar, text) in DECODING.items():
        if kind is None:  # a list of texts
            parser.add_argument(flag, dest=name, action="append",
                                metavar=metavar, help=text)
        else:
            parser.add_argument(flag, dest=name, type=kind, metavar=metavar,
                                default=defaults.get(name, 256), help=text)
    parser.add_argument("--context-length", type=_positive_int,
                        metavar="N", help="use at most N tokens of "
                        "context, prompt and answer together (default: "
                        "the model's 40,960)")
    parser.add_argument("--seed", type=_seed,
                        help="random seed, for reproducible sampling")
    parser.add_argument("--engine", choices=["fast", "book"],
                        help="fast: a static KV cache and a decoding step "
                        "compiled once (the default where torch.compile "
                        "works; the first answer waits for it); book: "
                        "the book's model and KVCache loop")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the KV cache (slower; the book "
                        "engine)")
    parser.add_argument("--compile", action="store_true",
                        help="the same as --engine fast")
    parser.add_argument("--device", default="auto",
                        choices=["auto", "cpu", "cuda", "mps", "xpu"],
                        help="where to run (default: the fastest found)")
    add_dtype_argument(parser)
    parser.add_argument("--out-dir", default="qwen3", type=_folder_name,
                        help="folder for the model files (default: qwen3)")
    return parser


def _folder_name(text):
    """A folder's name as given: '' would be the current folder."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a folder name; for example --out-dir qwen3"
        )
    return Path(text)


def _seed(text):
    value = parse_number(text, int, "a whole number")
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {MAX_SEED}, got {text}"
        )
    return value


def decoding_config(parser, args):
    """The decoding options as one ``GenerationConfig``, which checks
    them; what it refuses ends as the parser's one-line error, in the
    command's flags."""
    try:
        return GenerationConfig(**{name: getattr(args, name)
                                   for name in DECODING})
    except (ValueError, TypeError) as exc:
        message = one_line(exc).replace("num_beams (beam_search's "
                                        "beam_width)", "num_beams")
        for name, (flag, *_) in DECODING.items():
            message = re.sub(rf"(?<![\w-]){name}\b", flag, message)
        parser.error(message.rstrip("."))


def check_combinations(parser, args):
    """What is about the command line itself: the prompt, the engines,
    standard input and UTF-8, the context."""
    if args.prompt is not None and not args.prompt.strip():
        parser.error("--prompt: give some text (or leave --prompt out to "
                     "type prompts interactively)")
    if args.compile and args.engine == "book":
        parser.error("--compile is the fast engine: leave out --compile "
                     "or --engine book")
    if args.no_cache and (args.engine == "fast" or args.compile):
        parser.error("--no-cache runs the book's loop without its cache: "
                     "use it with --engine book, not the fast engine")
    if args.engine is None:  # the book's loop is the one without a cache
        args.engine = "book" if args.no_cache else "fast"
    if args.num_beams > 1 and args.no_cache:
        parser.error("--beam-width needs the KV cache: leave out "
                     "--no-cache")
    stops = args.stop_strings or ()
    for name, text in [("--prompt", args.prompt),
                       *(("--stop", text) for text in stops)]:
        # Bytes that were not UTF-8 stay lone surrogates, which no
        # tokenizer can encode
        if text is not None and re.search("[\ud800-\udfff]", text):
            parser.error(f"{name} holds bytes that are not UTF-8 text: "
                         "type it again, or set the terminal to UTF-8")
    if (args.context_length is not None
            and args.max_new_tokens >= args.context_length):
        parser.error(f"--max-new-tokens ({args.max_new_tokens}) must be "
                     f"smaller than --context-length "
                     f"({args.context_length}), to leave room for the "
                     "prompt")
    model_context = args.cfg["context_length"]
    if args.max_new_tokens >= model_context:
        parser.error(f"--max-new-tokens ({args.max_new_tokens}) must be "
                     f"smaller than the model's context length "
                     f"({model_context:,}), to leave room for the prompt")
    if args.prompt is None and (sys.stdin is None or sys.stdin.closed):
        parser.error("standard input is closed, so no prompt can be "
                     "typed: give one with --prompt TEXT")


def main(argv=None, cfg=None):
    """Run the command; return its exit status (130 after Ctrl+C).
    ``cfg``: the model's configuration (default Qwen3 0.6B)."""
    try:
        return _main(argv, cfg)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _main(argv, cfg):
    from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B

    from ..ch02 import get_device

    make_utf8(sys.stdout)
    make_utf8(sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.cfg = QWEN_CONFIG_06_B if cfg is None else cfg
    check_combinations(parser, args)
    args.config = decoding_config(parser, args)
    # What auto chose is said only once every argument is known to be
    # good: a mistake gets one line, nothing else
    notices = io.StringIO()
    with contextlib.redirect_stdout(notices):
        device = (get_device() if args.device == "auto"  # says which
                  else usable_device(parser, args.device))
        # Without the cache every step reads the whole text: prompt work
        work = "prompts" if args.no_cache else "decoding"
        dtype = usable_dtype(parser, args.dtype, device, args.cfg,
                             work)
    sys.stderr.write(notices.getvalue())

    from ..files.download import (
        DownloadError,
        InvalidFileError,
        WeightsNotAvailableError,
    )

    try:
        with contextlib.redirect_stdout(sys.stderr):
            model, tokenizer = load(args, device, dtype)
    except WeightsNotAvailableError as exc:
        print(f"ch02-generate: the model is not available.\n{exc}",
              file=sys.stderr)
        return 1
    except (DownloadError, InvalidFileError, OSError, RuntimeError) as exc:
        print(f"ch02-generate: {one_line(exc)}", file=sys.stderr)
        return 1

    session = Session(model, tokenizer, device, args)
    if args.prompt is not None:
        try:
            stopped = session.answer(args.prompt)
        except ValueError as exc:  # a prompt longer than the context
            print(f"ch02-generate: error: {one_line(exc)}",
                  file=sys.stderr)
            return 2
        return 130 if stopped else 0
    return interactive(session)


def load(args, device, dtype):
    """Download (if needed) and load the tokenizer and model."""
    from reasoning_from_scratch.qwen3 import Qwen3Tokenizer

    from ..dtype import to_dtype
    from ..files.checkpoint import load_model
    from ..files.download import qwen3_files

    paths = qwen3_files(kind=args.kind, out_dir=args.out_dir,
                        cfg=args.cfg)
    tokenizer = Qwen3Tokenizer(tokenizer_file_path=paths["tokenizer"])
    model = load_model(paths["model"], args.cfg)
    to_dtype(model, dtype).to(device)
    return model, tokenizer


class Session:
    """Answers prompts with the options given on the command line."""

    def __init__(self, model, tokenizer, device, args):
        from .chat import Conversation

        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.args = args
        self.context = min(args.context_length or 10**9,
                           model.cfg["context_length"])
        self.generator = None
        if args.seed is not None:
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(args.seed)
        self.eos = tokenizer.eos_token_id
        self.fast = None  # the fast engine, made for the first answer
        self.engine = args.engine
        if self.engine == "fast":
            from .. import compile_support

            with contextlib.redirect_stdout(sys.stderr):  # says why not
                if not compile_support.torch_compile_works(device):
                    print("[the book's loop answers instead of the fast "
                          "engine]")
                    self.engine = "book"
        self.conversation = None
        if args.chat:  # a chat turn ends with <|im_end|>
            im_end = tokenizer.encode(IM_END, chat_wrapped=False)[0]
            self.eos = sorted({tokenizer.eos_token_id, im_end})
            self.conversation = Conversation(
                tokenizer, thinking=args.kind == "reasoning"
            )

    def prompt_ids(self, prompt):
        """The prompt's token ids; in a chat, with the turns before."""
        budget = self.context - self.args.max_new_tokens
        if self.conversation is None:
            ids = self.tokenizer.encode(prompt, chat_wrapped=False)
            if len(ids) > budget:
                raise ValueError(
                    f"the prompt has {len(ids)} tokens, more than the "
                    f"{budget} that --max-new-tokens "
                    f"{self.args.max_new_tokens} leaves of the "
                    f"{self.context}-token context: shorten it or lower "
                    "--max-new-tokens"
                )
            return ids
        ids, dropped = self.conversation.prompt_ids(prompt, budget)
        if dropped:
            print(f"[dropped the {dropped} oldest "
                  f"turn{'s' if dropped > 1 else ''} to fit the "
                  f"{self.context}-token context]", file=sys.stderr)
        return ids

    def answer(self, prompt):
        """Generate one answer, streaming it to standard output; return
        True if Ctrl+C stopped it."""
        ids = self.prompt_ids(prompt)
        text, stopped = run(self.engine_for(len(ids)), self.tokenizer,
                            self.device, ids, self.args, self.eos,
                            self.generator, f"{self.engine} engine")
        if self.conversation is not None:
            self.conversation.add(prompt, text)
        return stopped

    def engine_for(self, n_prompt):
        """The model, or the fast engine with a KV cache for this prompt
        and its answer (the next power of two, at least 512 tokens), made
        and compiled anew only when a prompt outgrows it."""
        if self.engine == "book":
            return self.model
        needed = n_prompt + self.args.max_new_tokens
        if self.fast is None or self.fast.max_seq_len < needed:
            from ..fast import FastGenerator

            size = min(self.context, max(512, 1 << (needed - 1).bit_length()))
            self.fast = None  # its weights and cache go first
            self.fast = FastGenerator(self.model, max_seq_len=size,
                                      max_batch_size=self.args.num_beams)
            if self.fast.compiled:
                print(f"[compiling the fast engine's decoding step for "
                      f"{size} tokens: once, up to a few minutes on a "
                      "CPU; --engine book answers without it]",
                      file=sys.stderr, flush=True)
                seconds = self.fast.warm_up(self.args.num_beams)
                print(f"[compiled in {seconds:.0f} s]", file=sys.stderr,
                      flush=True)
        return self.fast


def run(model, tokenizer, device, prompt_ids, args, eos_token_id,
        generator, engine="book engine"):
    """Stream one answer of ``model`` (the book's model or a
    ``FastGenerator``) to standard output; return the text and whether
    Ctrl+C stopped it. ``engine`` names it in the statistics."""
    from ..decoding import beam_search, generate_stream
    from ..text_stream import stream_text
    from ..timing import synchronize

    token_ids = torch.tensor(prompt_ids, device=device).unsqueeze(0)
    n_tokens = 0

    def counted(stream):
        nonlocal n_tokens
        for token in stream:
            n_tokens += 1
            yield token

    pieces = []
    synchronize(device)
    start = time.perf_counter()
    try:
        config = dataclasses.replace(args.config,
                                     eos_token_id=eos_token_id)
        if config.num_beams > 1:
            tokens, _ = beam_search(model, token_ids, config=config)
            stream = counted(tokens[0].tolist())
        else:
            stream = counted(generate_stream(
                model, token_ids, config=config, tokenizer=tokenizer,
                generator=generator, use_cache=not args.no_cache,
            ))
        for text in stream_text(stream, tokenizer, args.stop_strings,
                                prompt_ids=prompt_ids):
            pieces.append(text)
            print(text, end="", flush=True)
        stopped = False
    except KeyboardInterrupt:
        stopped = True
    synchronize(device)
    seconds = time.perf_counter() - start
    print(flush=True)
    speed = n_tokens / seconds if seconds > 0 else 0.0
    print(f"[{n_tokens} tokens, {seconds:.2f} s, {speed:.1f} tokens/sec, "
          f"{engine}{', stopped' if stopped else ''}]", file=sys.stderr,
          flush=True)
    return "".join(pieces), stopped


def interactive(session):
    chat = session.conversation is not None
    print("Type a prompt and press Enter; "
          + ("/reset starts a new conversation, " if chat else "")
          + "/exit or /quit (or Ctrl+D) leaves, Ctrl+C stops an answer.",
          file=sys.stderr)
    while True:
        try:
            prompt = input(">>> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        except UnicodeDecodeError as exc:
            print(f"\nch02-generate: error: standard input is not UTF-8 "
                  f"text ({exc.reason}): save the prompts as UTF-8",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(file=sys.stderr)
            continue
        command = prompt.strip()
        if command in EXIT_COMMANDS:
            return 0
        if command == RESET_COMMAND and chat:
            session.conversation.reset()
            print("[new conversation]", file=sys.stderr)
            continue
        if not command:
            continue
        try:
            session.answer(prompt)
        except Exception as exc:  # report it, then take the next prompt
            print(f"ch02-generate: error: {one_line(exc)}",
                  file=sys.stderr)


def make_utf8(stream):
    """Write UTF-8 where the platform picks a narrower encoding (cp1252 on
    Windows, redirected), so no answer raises UnicodeEncodeError."""
    encoding = (getattr(stream, "encoding", None) or "").lower()
    if encoding.replace("-", "") != "utf8" and hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8", errors="replace")


if __name__ == "__main__":
    sys.exit(main())
