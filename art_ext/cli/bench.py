"""``art-ext bench [attacks|trainers|text] [options]``: the benchmark's command line.

``art_ext.cli.app`` hands everything after ``bench`` to :func:`configure_parser` and :func:`main`.
Also runnable alone: ``python -m art_ext.bench ...``. The parser is built for every ``art-ext``
command, so this module imports only the light bench configuration at the top; the harness (torch,
ART, matplotlib) is imported when a benchmark runs.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
from pathlib import Path
from typing import Any

import art_ext
from art_ext import checks
from art_ext.bench.config import AUTOATTACK_VERSIONS, DATASETS, BenchConfig
from art_ext.data import TEXT_DATASETS, portable_command

SUITE_CHOICES = ("attacks", "trainers", "text")


def _floats(text: str) -> list[float]:
    try:
        return [checks.number_text(v, "each value") for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers or fractions (2/255), got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,28,28, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_param(text: str) -> tuple[str, str, Any]:
    """``NAME:KEY=VALUE`` (VALUE literal-eval'd, else kept as a string)."""
    name, sep, rest = text.partition(":")
    key, eq, raw = rest.partition("=")
    if not sep or not eq or not name or not key:
        raise ValueError(f"--param {text!r}: expected ATTACK:KEY=VALUE, e.g. art.square:max_iter=100")
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), key.strip(), value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the bench options to ``parser`` (the lead's ``bench`` sub-parser or a fresh one)."""
    parser.description = (
        "Compare attacks and adversarial trainers (art-ext plugins, ART, Foolbox, third-party plugins) "
        "on a dataset and model: terminal table, results.json/csv, report.md and plots, with "
        "gradient-masking sanity checks. With no suite: the embedded default (digits, SmallCNN, every attack)."
    )
    parser.add_argument("suite", nargs="?", choices=SUITE_CHOICES, default=None,
                        help="attacks, trainers or text; none: the default suite (the attacks suite on the embedded digits model)")
    data = parser.add_argument_group("data and model")
    data.add_argument("--dataset", choices=DATASETS, default=None,
                      help="digits (bundled, default), an image data set, or text for the text suite (mr, default "
                           "there; csv, tsv, jsonl, hf)")
    data.add_argument("--data-dir", default=None, help="the dataset's folder or file (README: Data)")
    data.add_argument("--model", default=None,
                      help="TorchScript file, or module:factory (with --state-dict); default: a SmallCNN trained and cached")
    data.add_argument("--state-dict", default=None, help="weights for --model module:factory (loaded with weights_only=True)")
    data.add_argument("--input-shape", type=_ints, default=None, help="C,H,W of one input, e.g. 1,28,28 (checked against the data)")
    data.add_argument("--nb-classes", type=int, default=None, help="number of classes (checked against the model's output)")
    data.add_argument("--clip-values", type=_floats, default=None, help="MIN,MAX of the inputs, default 0,1")
    data.add_argument("--n-train", type=int, default=None, help="use only the first N training examples")
    sel = parser.add_argument_group("what to run")
    sel.add_argument("--attacks", type=_names, default=None,
                     help="comma-separated names or globs, e.g. 'advgan,art.*' (default: all image attacks)")
    sel.add_argument("--trainers", type=_names, default=None, help="comma-separated names or globs (default: all image trainers)")
    sel.add_argument("--eps", type=_floats, default=None, help="Linf eps grid, e.g. 0.05,0.1,0.2")
    sel.add_argument("--eps-l2", type=_floats, default=None, help="L2 eps grid, e.g. 0.5,1,2")
    sel.add_argument("--param", action="append", default=[], metavar="ATTACK:KEY=VALUE",
                     help="attack or trainer parameter, repeatable; n_examples caps an attack's examples")
    sel.add_argument("--n-test", type=int, default=200, help="test examples attacked (default 200)")
    sel.add_argument("--n-check", type=int, default=100, help="examples for the sanity checks and trainer evaluation (default 100)")
    sel.add_argument("--epochs", type=int, default=10, help="epochs of the default model's training (default 10)")
    sel.add_argument("--trainer-epochs", type=int, default=None, help="epochs per trainer (default 3)")
    sel.add_argument("--trainer-eps", type=float, default=None, help="trainers' Linf eps (default 0.1 digits, 0.3 mnist)")
    sel.add_argument("--batch-size", type=int, default=128)
    sel.add_argument("--no-checks", action="store_true", help="skip the model-level sanity checks (not recommended)")
    sel.add_argument("--autoattack", choices=AUTOATTACK_VERSIONS, default="standard",
                     help="AutoAttack list of the trainer evaluation: standard (Croce & Hein's list, native; default), "
                          "fast (a reduced native list), art-default / art-fast (ART's AutoAttack) or none")
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    run.add_argument("--threads", type=int, default=None,
                     help="torch CPU threads (default: the machine rule: 1 for the embedded digits model, else the "
                          "usable cores; $ART_EXT_THREADS overrides)")
    run.add_argument("--out", default=None, help="output folder (default ./art-ext-bench)")
    run.add_argument("--cache-dir", default=None, help="model cache (default $ART_EXT_CACHE or ~/.cache/art-ext)")
    run.add_argument("--check", default=None, metavar="RESULTS_JSON",
                     help="rerun the suite recorded in RESULTS_JSON and report drift")
    run.add_argument("--tolerance", type=float, default=0.01, help="--check: allowed accuracy drift (default 0.01)")
    run.add_argument("--strict-versions", action="store_true",
                     help="--check: also fail when a package that changes the numbers (torch, ART, Foolbox, eagerpy, "
                          "numpy, scipy, scikit-learn) has another version than the recorded run")
    run.add_argument("--list", action="store_true", help="list the attacks and trainers that can be selected, then exit")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bars (they are shown only when stderr is a terminal anyway)")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A validated :class:`BenchConfig` from parsed arguments (ValueError on bad values)."""
    suite = args.suite or "default"
    params: dict[str, dict[str, Any]] = {}
    for text in args.param or []:
        name, key, value = parse_param(text)
        params.setdefault(name, {})[key] = value
    dataset = args.dataset or ("mr" if suite == "text" else "digits")
    if suite == "text" and dataset not in TEXT_DATASETS:
        raise ValueError(f"`art-ext bench text` runs on text data ({', '.join(TEXT_DATASETS)}), not --dataset {dataset}")
    if suite != "text" and dataset in TEXT_DATASETS:
        raise ValueError(f"dataset {dataset!r} is text: use `art-ext bench text`")
    clip = tuple(args.clip_values) if args.clip_values is not None else None
    if clip is not None and len(clip) != 2:
        raise ValueError(f"--clip-values must be MIN,MAX, got {args.clip_values}")
    trainer_epochs = args.trainer_epochs if args.trainer_epochs is not None else 3
    return BenchConfig(
        suite=suite, dataset=dataset, data_dir=args.data_dir, model=args.model, state_dict=args.state_dict,
        input_shape=args.input_shape, nb_classes=args.nb_classes, clip_values=clip,  # type: ignore[arg-type]
        attacks=args.attacks or ["*"], trainers=args.trainers or ["*"], eps=args.eps, eps_l2=args.eps_l2,
        n_test=args.n_test, n_check=args.n_check, epochs=args.epochs, trainer_epochs=trainer_epochs,
        trainer_eps=args.trainer_eps, n_train=args.n_train, batch_size=args.batch_size, seed=args.seed,
        params=params, device=args.device, threads=args.threads, checks=not args.no_checks, autoattack=args.autoattack,
        out=args.out or "art-ext-bench", cache_dir=args.cache_dir,
    )


def _list_available() -> str:
    from art_ext.bench.attacks import available_attacks

    lines = ["attacks:"]
    for name, c in sorted(available_attacks().items()):
        lines.append(f"  {name:24s} [{c.modality}] {c.source}: {c.description}")
    lines.append("trainers:")
    for entry in art_ext.get_plugin_manager().trainers.entries():
        lines.append(f"  {entry.name:24s} [{entry.modality}] {entry.plugin}: {entry.description}")
    return "\n".join(lines)


def _ran_line(results: dict[str, Any]) -> str:
    env = results.get("environment", {})
    data = results.get("data", {})
    model = results.get("model", {})
    return "\n".join([
        f"art-ext bench: {results.get('suite')} suite",
        f"  data     {data.get('dataset', results['config']['dataset'])} ({data.get('split', '-')})",
        f"  model    {model.get('source', '-')}" + (
            f", {'loaded from the cache' if model.get('cached') else 'trained now and cached'}: {model['cache_file']}"
            if model.get("cache_file") else ""),
        f"  threads  {env.get('torch_threads')}, device {env.get('device')}",
    ])


def _outputs_line(out: str, results: dict[str, Any]) -> str:
    outputs = results.get("outputs", {})
    names = [outputs.get("json", ""), *outputs.get("csv", []), outputs.get("report", ""), *outputs.get("plots", [])]
    return f"wrote {out}/: {', '.join(n for n in names if n)}"


def main(args: argparse.Namespace) -> int:
    """Run the bench; prints what ran, the tables and where the outputs are.

    Exit codes: 0 done; 1 ``--check`` found drift, or an attack or trainer failed (its row holds
    the error); input errors (names, ``--param``, data, model) raise before anything runs.
    """
    from art_ext.bench import suite
    from art_ext.bench.report import terminal_summary

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "list", False):
        print(_list_available())
        return 0
    argv = getattr(args, "_argv", None)
    if argv is None and sys.argv[1:2] == ["bench"]:  # called through art-ext
        argv = sys.argv[2:]
    command = portable_command(["art-ext", "bench", *(argv or [])])
    if args.check is not None:
        from art_ext.bench import check

        baseline = check.baseline_for_machine(args.check)
        print(f"--check: comparing with {baseline}")
        old = check.load_results(baseline)
        config = check.config_for_rerun(old, baseline, out=args.out, model=args.model, state_dict=args.state_dict,
                                        cache_dir=args.cache_dir, data_dir=args.data_dir)
        new = suite.run(config, command=command.strip(), progress=not args.quiet)
        print(_ran_line(new))
        print(terminal_summary(new))
        report = check.compare(old, new, tolerance=args.tolerance, strict_versions=args.strict_versions)
        path = check.write_check(report, Path(config.out))
        print(check.format_check(report))
        print(f"rerun written to {config.out}/ (drift report {path})")
        return 0 if report["ok"] else 1
    config = config_from_args(args)
    results = suite.run(config, command=command.strip(), progress=not args.quiet)
    print(_ran_line(results))
    print(terminal_summary(results))
    print(_outputs_line(config.out, results))
    if results.get("flagged"):
        print("WARNING: some results are flagged (failed sanity checks or errors): see the flags column and report.md")
    if results.get("failed"):
        print(f"FAILED: {', '.join(results['failed'])} (the error is in their rows); exit code 1")
        return 1
    return 0


def run_cli(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run; for ``python -m art_ext.bench``."""
    parser = argparse.ArgumentParser(prog="art-ext bench")
    configure_parser(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args._argv = argv
    try:
        return main(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, ImportError) as error:
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        print(f"art-ext bench: error: {message}", file=sys.stderr)
        return 2
