"""Command-line checks shared by ``ch02-generate`` and the bonus scripts:
each bad value ends as one line that says what is allowed."""

import argparse
import json
import os

import torch


def parse_number(text, kind, what):
    """``kind(text)``, or an argparse error saying it must be ``what``."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {what}, got {text!r}"
        ) from None


def int_at_least(minimum, why=""):
    """An argparse type: a whole number >= ``minimum``; ``why`` is added
    to the message."""
    def parse(text):
        value = parse_number(text, int, "a whole number")
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be >= {minimum}{why}, got {value}"
            )
        return value

    return parse


def decoding_option(name):
    """An argparse type for the decoding option ``name``, a number checked
    by ``GenerationConfig``'s rule for it."""
    from .decoding.config import check_option

    def parse(text):
        value = parse_number(text, float, "a number")
        try:
            check_option(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None
        return value

    return parse


def check_output_paths(parser, *paths):
    """A one-line error, before any work, for an output file that could
    not be written (no folder, read-only, a folder in its place) or that
    two outputs share."""
    seen = {}
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            parser.error(f"{path} is a folder: give a file name, for "
                         f"example {path / 'results'}")
        if not path.parent.is_dir():
            parser.error(f"{path}: the folder {path.parent} does not "
                         "exist")
        if not os.access(path.parent, os.W_OK):
            parser.error(f"{path}: the folder {path.parent} is not "
                         "writable; choose another folder")
        key = path.resolve()
        if key in seen:
            parser.error(f"{seen[key]} and {path} are the same file: give "
                         "each output its own name")
        seen[key] = path


def read_json(parser, path):
    """A saved run's JSON, or a one-line error naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        parser.error(f"{path}: not a saved run ({exc})")


def usable_device(parser, name):
    """``torch.device(name)`` if a tensor with values can live there,
    else a one-line error."""
    from .errors import one_line

    try:
        device = torch.device(name)
        torch.empty(1, device=device)
    except Exception as exc:  # each backend fails in its own way
        parser.error(f"--device {name}: no such device on this machine "
                     f"({one_line(exc, named=True)})")
    if device.type == "meta":  # shapes only: nothing to time
        parser.error(f"--device {name} holds no values: use cpu, cuda, "
                     "mps or xpu")
    return device


def add_dtype_argument(parser):
    """``--dtype auto|bfloat16|float32`` (see ``helpers.dtype``)."""
    from .dtype import DTYPES

    parser.add_argument("--dtype", choices=["auto", *DTYPES],
                        default="auto",
                        help="the model's dtype (default auto: the "
                        "faster one here, measured)")


def usable_dtype(parser, name, device, cfg, work="decoding"):
    """The dtype ``--dtype name`` means on ``device`` ("auto": the
    fastest for ``work``, said in a line); one that the device cannot
    run, or whose weights do not fit, is a one-line error."""
    from .dtype import DTYPES, check_dtype, check_fits, choose_dtype

    if name == "auto":
        return choose_dtype(device, cfg, work)
    dtype = DTYPES[name]
    try:
        check_dtype(device, dtype)
        check_fits(cfg, dtype, device)
    except (ValueError, MemoryError) as exc:
        parser.error(f"--dtype {name}: {exc}")
    return dtype


def config_with_dtype(parser, args, cfg, work):
    """``cfg`` with the dtype of ``args.dtype`` on ``args.device``;
    ``--tiny``'s model keeps its float32 unless a dtype is named."""
    if args.tiny and args.dtype == "auto":
        return cfg
    return {**cfg, "dtype": usable_dtype(parser, args.dtype, args.device,
                                         cfg, work)}
