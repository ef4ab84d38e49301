"""The ``art-ext`` command line: ``plugins``, ``attack``, ``train`` and ``bench``.

Bad arguments and failed runs end with a one-line ``art-ext: error: ...`` and a non-zero exit
code (2 for usage and input errors, 1 otherwise); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import art_ext
from art_ext.checks import first_line, number_text
from art_ext.cli.presets import PRESETS, apply_preset
from art_ext.cli.runners import (
    ATTACK_OPTIONS,
    COMMON_OPTIONS,
    TRAIN_OPTIONS,
    option_flag,
    runner_options,
)
from art_ext.data import DATA_ENV, IMAGE_DATASETS, TEXT_DATASETS
from art_ext.manager import PluginLoadWarning
from art_ext.registry import printable

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
        if "/" in raw:  # eps=8/255; anything else with a slash stays text
            with contextlib.suppress(ValueError):
                value = number_text(raw, f"--param {key.strip()}")
    return key.strip(), value


def number_or_fraction(text: str) -> float:
    """``--eps 0.03`` or ``--eps 8/255``."""
    try:
        return number_text(text, "--eps")
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or a fraction like 8/255, got {text!r}") from None


#: the largest count an option takes (torch indexes with 64-bit integers, but no batch, epoch count or
#: example count of a real run comes near 2**31; larger values are typing mistakes)
MAX_COUNT = 2**31 - 1


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if not 0 < value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be a positive integer up to {MAX_COUNT}, got {text}")
    return value


def add_run_options(parser: argparse.ArgumentParser, *, epochs_help: str, batch_help: str) -> None:
    """The options ``attack`` and ``train`` share (:data:`art_ext.cli.runners.COMMON_OPTIONS`).

    Defaults are ``None`` so the CLI knows which ones the user set (``args.explicit``): a runner
    that does not honour an option the user set is refused with one line.
    """
    parser.add_argument("--dataset", choices=(*IMAGE_DATASETS, *TEXT_DATASETS), default=None,
                        help="data set (default: digits for image plugins, mr for text plugins)")
    parser.add_argument("--data-dir", default=None,
                        help=f"folder with the data set's files (mnist, mr; default ${DATA_ENV}/<dataset>, "
                             "see the README's Data section)")
    parser.add_argument("--model", default=None,
                        help="image data: a weights file (a state dict, or model.pt / last.pt / best.pt from "
                             "'art-ext train') of any model zoo network; for train also a zoo name to start from "
                             "random weights (smallcnn, bncnn, cifar_cnn, preact_resnet18, wrn_28_10); text: a "
                             "Hugging Face folder (default: a SmallCNN trained on the data and cached, the one "
                             "'art-ext bench' uses)")
    parser.add_argument("--eps", type=number_or_fraction, default=None,
                        help="perturbation budget, e.g. 0.3 or 8/255 (default: the attack's or trainer's)")
    parser.add_argument("--norm", choices=("inf", "2"), default=None, help="perturbation norm (default: the attack's)")
    parser.add_argument("--targeted", action="store_true", help="targeted attack (target = (label + 1) mod classes)")
    parser.add_argument("--epochs", type=positive_int, default=None, help=epochs_help)
    parser.add_argument("--batch-size", type=positive_int, default=None, help=batch_help)
    parser.add_argument("--n-train", type=positive_int, default=None, help="use only the first N training examples")
    parser.add_argument("--n-test", type=positive_int, default=None, help="use only the first N test examples")
    parser.add_argument("--seed", type=int, default=None, help="random seed: split, default model, attack (default 0)")
    parser.add_argument("--out", default=None, help="output folder (results.json and what the command saves)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="device (default: cuda if available)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (default: the machine rule, as bench: 1 for the digits model, "
                             "else the usable cores; $ART_EXT_THREADS overrides)")
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
    add_run_options(attack, epochs_help="training epochs of an attack that learns (its nb_epochs, e.g. advgan)",
                    batch_help="the attack's batch_size (default: the attack's)")
    attack.add_argument("--load", default=None, metavar="FILE",
                        help="use a saved attack instead of fitting one (e.g. the advgan.safetensors that --out wrote)")

    train = commands.add_parser(
        "train", help="adversarially train a model with a registered trainer",
        description="Train a model with the registered trainer (pgd, trades, free, fbf, nfgsm, gradalign, advgan, "
                    "freelb, ...) in the run folder --out (locked while it runs), save it, and report clean and "
                    "robust accuracy on the test split.",
    )
    train.add_argument("--trainer", dest="name", default=None,
                       help="trainer name (see 'art-ext plugins'); required without --preset")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="a published recipe: its trainer, data, model, eps, epochs, optimizer and schedule, "
                            "each overridable (wong2020-fbf: FBF, 15 epochs, cyclic lr; rice2020-pgd: PGD-10, "
                            "200 epochs, piecewise lr, best validation epoch)")
    add_run_options(train, epochs_help="training epochs (default 5)", batch_help="training batch size (default 128)")
    train.add_argument("--init", choices=("clean", "random"), default=None,
                       help="starting weights without --model: clean = fine-tune the cached clean SmallCNN "
                            "(default), random = from random initialisation")
    train.add_argument("--checkpoint-dir", default=None, help="checkpoint folder (default OUT/checkpoints)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out (refused, listing the fields, if the settings differ)")
    train.add_argument("--overwrite", action="store_true", help="discard the run already in --out and start afresh")
    train.add_argument("--allow-change", dest="allow_change", action="append", default=None, metavar="FIELD",
                       help="with --resume: a setting that may differ from the saved run (lr, precision, versions, "
                            "device; repeatable)")

    bench = commands.add_parser(
        "bench", help="benchmark plugin attacks and trainers against ART's and Foolbox's (the main job)",
        description="Compare attacks and trainers against ART's and Foolbox's standard ones; with no "
                    "arguments, runs the default suite on sklearn's bundled digits.",
    )
    _configure_bench(bench)
    return parser


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    try:
        from art_ext.cli.bench import configure_parser
    except ImportError as error:
        logger.debug("bench unavailable: %s", error)
        parser.set_defaults(bench_unavailable=str(error))
        return
    configure_parser(parser)


# -- commands ----------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    infos = art_ext.list_plugins()
    if args.json:
        print(json.dumps([info.to_dict() for info in infos], indent=2))
        return 0
    for info in infos:
        print(printable(f"{info.name}  [{info.status}]  {info.distribution} {info.version}  ({info.module})"))
        for error in info.errors:
            print(f"    error: {printable(error)}")
        if info.hooks:
            print(f"    hooks: {', '.join(info.hooks)}")
        if info.attacks:
            print(f"    attacks: {', '.join(info.attacks)}")
        if info.trainers:
            print(f"    trainers: {', '.join(info.trainers)}")
    return 0


EXPLICIT_BOOLEANS = ("targeted", "resume", "overwrite")


def explicit_options(args: argparse.Namespace, kind: str) -> list[str]:
    """The common options (:data:`art_ext.cli.runners.COMMON_OPTIONS` and the command's own) the user set."""
    own = ATTACK_OPTIONS if kind == "attack" else TRAIN_OPTIONS
    return [dest for dest in (*COMMON_OPTIONS, *own)
            if getattr(args, dest, None) not in (None, False, [])]


def _check_options(runner: Callable[..., Any], kind: str, name: str, explicit: list[str]) -> None:
    honoured = runner_options(runner, name)
    if honoured is None:
        return
    rejected = [option_flag(dest) for dest in explicit if dest not in honoured]
    if rejected:
        raise CliError(
            f"{kind} {name!r} does not use {', '.join(rejected)} (it takes "
            f"{', '.join(option_flag(d) for d in sorted(honoured)) or 'no common options'}, and --param KEY=VALUE)"
        )


def _apply_machine_options(args: argparse.Namespace, small_model: bool) -> None:
    """``--device`` checked and ``--threads`` applied before any torch work (the bench's rule)."""
    import torch

    from art_ext.core.device import set_threads

    if args.device == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda: CUDA is not available on this machine (use --device cpu or omit it)")
    args.threads = set_threads(args.threads, small_model=small_model)


def _run_registered(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    manager = art_ext.get_plugin_manager()
    entry = (manager.attacks if kind == "attack" else manager.trainers)[args.name]
    args.params = dict(args.params)
    args.explicit = explicit_options(args, kind)
    if args.dataset is None:
        args.dataset = "mr" if entry.modality == "text" else "digits"
    image_data = args.dataset in IMAGE_DATASETS
    if image_data != (entry.modality == "image"):
        raise CliError(f"{kind} {args.name!r} works on {entry.modality} data; --dataset {args.dataset} does not fit")
    runner = entry.load_cli() or _default_runner(kind)
    _check_options(runner, kind, args.name, args.explicit)
    if args.seed is None:
        args.seed = 0
    _apply_machine_options(args, small_model=args.dataset == "digits" and args.model is None)
    result: dict[str, Any] = runner(args)
    return result


def _default_runner(kind: str) -> Callable[[argparse.Namespace], dict[str, Any]]:
    # the runners pull in torch and ART: imported for the command that runs, so that
    # ``art-ext --help`` and a bad argument answer at once
    if kind == "attack":
        from art_ext.cli.attack import run_image_attack

        return run_image_attack
    try:
        from art_ext.cli.train import run_train
    except ImportError as error:
        raise CliError(f"trainer runner unavailable: {error}") from None
    return run_train  # type: ignore[no-any-return]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def print_results(results: dict[str, Any], as_json: bool, command: str, wall_time: float) -> None:
    """What ran, the metrics, where they were written, and the command's wall time."""
    if not results:  # e.g. a torchrun worker rank: rank 0 reports
        return
    if as_json:
        print(json.dumps({**results, "command_wall_time_s": wall_time}, indent=2, default=str))
        return
    ran = results.get("ran") or {}
    print(f"art-ext {command}")
    if ran:
        width = max(len(key) for key in ran)
        for key, value in ran.items():
            print(f"  {key:<{width}}  {value}")
    metrics = {k: v for k, v in results.items() if k not in ("ran", "outputs") and not isinstance(v, dict)}
    if metrics:
        print("results")
        width = max(len(key) for key in metrics)
        for key, value in metrics.items():
            print(f"  {key:<{width}}  {_shown(value)}")
    outputs = results.get("outputs") or []
    print(f"wrote {', '.join(map(str, outputs))}" if outputs else "wrote nothing (use --out DIR to keep the results)")
    print(f"wall time {wall_time:.1f} s")


def cmd_attack(args: argparse.Namespace) -> int:
    print_results(_run_registered(args, "attack"), args.json, f"attack {args.name}",
                  time.perf_counter() - args.start_time)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    try:
        apply_preset(args)
    except ValueError as error:
        raise CliError(str(error)) from None
    if args.name is None:
        raise CliError("the following arguments are required: --trainer (or --preset)")
    print_results(_run_registered(args, "trainer"), args.json, f"train --trainer {args.name}",
                  time.perf_counter() - args.start_time)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if getattr(args, "bench_unavailable", None):
        raise CliError(f"the benchmark harness is unavailable: {args.bench_unavailable}")
    from art_ext.cli.bench import main as bench_main

    return int(bench_main(args))


COMMANDS = {"plugins": cmd_plugins, "attack": cmd_attack, "train": cmd_train, "bench": cmd_bench}


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="art-ext: %(levelname)s %(name)s: %(message)s")


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Warnings as one line each (``art-ext: warning: ...``) instead of Python's two."""
    text = first_line(message if isinstance(message, Warning) else category(str(message)))
    shown = text if issubclass(category, PluginLoadWarning) else f"{category.__name__}: {text}"
    with contextlib.suppress(OSError, ValueError):
        print(f"art-ext: warning: {shown}", file=file or sys.stderr)


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (``art-ext plugins | head``): stop quietly, exit 0."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.start_time = start
    if args.command is None:
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    previous_showwarning, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("art-ext: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        code = 2 if isinstance(error, (CliError, *USAGE_ERRORS)) else 1
        print(f"art-ext: error: {one_line(error)}", file=sys.stderr)
        return code
    finally:
        warnings.showwarning = previous_showwarning


def one_line(error: BaseException) -> str:
    """The first line of an error's message (``KeyError`` unquoted), or its type's name."""
    return first_line(error)


if __name__ == "__main__":
    sys.exit(main())
