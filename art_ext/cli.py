"""The ``art-ext`` command line: ``plugins``, ``attack``, ``train`` and ``bench``.

Bad arguments and failed runs end with a one-line ``art-ext: error: ...`` and a non-zero exit
code (2 for usage and input errors, 1 otherwise); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import art_ext
from art_ext.data import IMAGE_DATASETS, TEXT_DATASETS

logger = logging.getLogger(__name__)

USAGE_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError)


class CliError(Exception):
    """A one-line error for the user."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments on one line instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"art-ext: error: {self.prog}: {message} (see --help)\n")


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a Python literal when it is one (``0.3``, ``True``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--param expects KEY=VALUE, got {text!r}")
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_run_options(parser: argparse.ArgumentParser, *, epochs_help: str) -> None:
    parser.add_argument("--dataset", choices=(*IMAGE_DATASETS, *TEXT_DATASETS), default=None,
                        help="data set (default: digits for image plugins, mr for text plugins)")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (mnist, mr)")
    parser.add_argument("--model", default=None,
                        help="model to use: a SmallCNN state dict for image data, a Hugging Face folder for text "
                             "(default: a SmallCNN trained on the data and cached)")
    parser.add_argument("--eps", type=float, default=None, help="perturbation budget")
    parser.add_argument("--norm", choices=("inf", "2"), default=None, help="perturbation norm")
    parser.add_argument("--targeted", action="store_true", help="targeted attack (target = (label + 1) mod classes)")
    parser.add_argument("--epochs", type=positive_int, default=None, help=epochs_help)
    parser.add_argument("--batch-size", type=positive_int, default=128, help="batch size (default 128)")
    parser.add_argument("--n-train", type=positive_int, default=None, help="use only the first N training examples")
    parser.add_argument("--n-test", type=positive_int, default=None, help="use only the first N test examples")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default=None, help="output folder for models, logs and results")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="device (default: cuda if available)")
    parser.add_argument("--param", dest="params", action="append", type=parse_param, default=[],
                        metavar="KEY=VALUE", help="extra parameter for the attack or trainer (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="art-ext",
        description="GAN attacks, text attacks and a fast adversarial trainer for ART and Foolbox.",
    )
    parser.add_argument("--version", action="version", version=f"art-ext {art_ext.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    plugins = commands.add_parser(
        "plugins", help="list plugins, their distributions, hooks and what they registered",
        description="List every art-ext plugin found (entry-point group 'art_ext'), with its distribution "
                    "and version, the hooks it implements, the attacks and trainers it registered, and "
                    "load errors of plugins that failed.",
    )
    plugins.add_argument("--json", action="store_true", help="print as JSON")

    attack = commands.add_parser(
        "attack", help="run a registered attack on a dataset and report its success",
        description="Run the registered attack NAME: load the data and a model (or train and cache a "
                    "small CNN), fit the attack if it learns (e.g. advgan), attack the test split and "
                    "print success rate, perturbation norms and throughput.",
    )
    attack.add_argument("name", help="attack name (see 'art-ext plugins')")
    add_run_options(attack, epochs_help="training epochs for attacks that learn")

    train = commands.add_parser(
        "train", help="adversarially train a model with a registered trainer",
        description="Train a model with the registered trainer (pgd, trades, free, fbf, advgan, freelb, ...), "
                    "save it, and print the final clean and robust accuracy.",
    )
    train.add_argument("--trainer", dest="name", required=True, help="trainer name (see 'art-ext plugins')")
    add_run_options(train, epochs_help="training epochs")
    train.add_argument("--checkpoint-dir", default=None, help="folder for atomic checkpoints")
    train.add_argument("--resume", action="store_true", help="resume from the checkpoint in --checkpoint-dir")

    bench = commands.add_parser(
        "bench", help="benchmark plugin attacks and trainers against ART's and Foolbox's (the main job)",
        description="Compare attacks and trainers against ART's and Foolbox's standard ones; with no "
                    "arguments, runs the default suite on sklearn's bundled digits.",
    )
    _configure_bench(bench)
    return parser


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    try:
        from art_ext.bench.cli import configure_parser
    except ImportError as error:
        logger.debug("bench unavailable: %s", error)
        parser.set_defaults(bench_unavailable=str(error))
        return
    configure_parser(parser)


# -- commands ----------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    infos = art_ext.list_plugins()
    if args.json:
        print(json.dumps([vars(info) for info in infos], indent=2))
        return 0
    for info in infos:
        print(f"{info.name}  [{info.status}]  {info.distribution} {info.version}  ({info.module})")
        if info.error:
            print(f"    error: {info.error}")
        if info.hooks:
            print(f"    hooks: {', '.join(info.hooks)}")
        if info.attacks:
            print(f"    attacks: {', '.join(info.attacks)}")
        if info.trainers:
            print(f"    trainers: {', '.join(info.trainers)}")
    return 0


def _run_registered(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    manager = art_ext.get_plugin_manager()
    entry = (manager.attacks if kind == "attack" else manager.trainers)[args.name]
    args.params = dict(args.params)
    if args.dataset is None:
        args.dataset = "mr" if entry.modality == "text" else "digits"
    image_data = args.dataset in IMAGE_DATASETS
    if image_data != (entry.modality == "image"):
        raise CliError(f"{kind} {args.name!r} works on {entry.modality} data; --dataset {args.dataset} does not fit")
    runner = entry.load_cli() or _default_runner(kind)
    result: dict[str, Any] = runner(args)
    return result


def _default_runner(kind: str) -> Callable[[argparse.Namespace], dict[str, Any]]:
    if kind == "attack":
        from art_ext.runners import run_image_attack

        return run_image_attack
    try:
        from art_ext.core.cli import run_train
    except ImportError as error:
        raise CliError(f"trainer runner unavailable: {error}") from None
    return run_train  # type: ignore[no-any-return]


def print_results(results: dict[str, Any], as_json: bool) -> None:
    if not results:  # e.g. a torchrun worker rank: rank 0 reports
        return
    if as_json:
        print(json.dumps(results, indent=2, default=str))
        return
    width = max(len(key) for key in results) if results else 0
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")


def cmd_attack(args: argparse.Namespace) -> int:
    print_results(_run_registered(args, "attack"), args.json)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    print_results(_run_registered(args, "trainer"), args.json)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if getattr(args, "bench_unavailable", None):
        raise CliError(f"the benchmark harness is unavailable: {args.bench_unavailable}")
    from art_ext.bench.cli import main as bench_main

    return int(bench_main(args))


COMMANDS = {"plugins": cmd_plugins, "attack": cmd_attack, "train": cmd_train, "bench": cmd_bench}


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("art-ext: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        code = 2 if isinstance(error, (CliError, *USAGE_ERRORS)) else 1
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"art-ext: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
