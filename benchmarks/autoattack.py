"""AutoAttack benchmark (issue 24): art-ext's torch-native AutoAttack against ART's, on the same
images of the same model, timed side by side in one process.

    python benchmarks/autoattack.py model     --out benchmarks/results/autoattack
    python benchmarks/autoattack.py agreement --out benchmarks/results/autoattack
    python benchmarks/autoattack.py lists     --out benchmarks/results/autoattack --n-art 200 --art-as-given
    python benchmarks/autoattack.py model     --out benchmarks/results/autoattack --method fbf
    python benchmarks/autoattack.py lists     --out benchmarks/results/autoattack --method fbf --n 200 --n-art 200
    python benchmarks/autoattack.py report    --out benchmarks/results/autoattack

Setup (recorded in every file): the trainer benchmark's MNIST splits and its ``pgd`` SmallCNN
(seed 0, 5 epochs of PGD-7 at Linf eps 0.3 from the cached clean network; see
``benchmarks/trainers.py``), rebuilt by ``model`` and cached outside the repository; the first
``--n`` (1,000) images of the test split; Linf eps 0.3; float32; ``--threads`` torch threads (1).

* ``agreement``: native APGD-CE and APGD-DLR against ART's ``AutoProjectedGradientDescent`` with
  the same budget (100 iterations, 1 restart, initial step 2 eps), per example: the paired
  difference of robust accuracy with its 95% interval, and the images each breaks that the other
  does not;
* ``lists``: the native ``standard`` list (Croce & Hein: APGD-CE, APGD-T, FAB-T, Square) on all
  ``--n`` images and ART's ``art-default`` list on the first ``--n-art`` of them (ART's list is
  too slow for all 1,000 here: 77 minutes measured before), then the native list's robust
  accuracy against ART's on the common images (paired) and the wall time per image of each;
* ``report``: ``results.md`` from the JSON files.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the trainer benchmark's setup
import trainers as setup

from art_ext.data import data_root, portable_command
from art_ext.model_io import default_cache_dir

logger = logging.getLogger("benchmarks.autoattack")

EPS = 0.3
SEED = 0
STEPS = 100


def _model_path(cache: Path, method: str = "pgd") -> Path:
    return cache / f"{method}-smallcnn-seed{SEED}.pt"


def _lists_file(method: str) -> str:
    """``lists.json`` for the ``pgd`` model (the first one measured), ``lists-METHOD.json`` for others."""
    return "lists.json" if method == "pgd" else f"lists-{method}.json"


def _classifier(args: argparse.Namespace) -> Any:
    from art_ext.core.checkpoint import load_tensor_file

    path = _model_path(Path(args.cache), args.method)
    if not path.is_file():
        raise SystemExit(f"no model at {path}: run the 'model' stage first (same --method)")
    return setup.make_classifier("smallcnn", load_tensor_file(path, "model"))


def _record(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    return {
        "stage": stage, "command": portable_command(sys.argv), "eps": EPS, "norm": "inf", "n": args.n,
        "model": f"benchmark SmallCNN, art-ext {args.method}" + (f" (PGD-{setup.K})" if args.method == "pgd" else
                 f" ({setup.METHODS[args.method][2]})") + f", eps {EPS}, 5 epochs, seed {SEED}",
        "data": "MNIST t10k, the trainer benchmark's test split, first n images",
        "environment": setup.environment(args.threads),
    }


def _write(out: Path, name: str, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(data, indent=1, default=str) + "\n")
    logger.info("wrote %s", out / name)


def stage_model(args: argparse.Namespace, data: setup.Data) -> None:
    from art_ext.core.checkpoint import atomic_save

    cache = Path(args.cache)
    state = setup.clean_init(data, "smallcnn", SEED, cache)
    classifier = setup.make_classifier("smallcnn", state)
    record = setup.train(args.method, classifier, data, eps=EPS, epochs=5, seed=SEED, chosen={}, validation=False)
    path = _model_path(cache, args.method)
    atomic_save(classifier.model.state_dict(), path)
    logger.info("%s SmallCNN trained in %.0f s, saved to %s", args.method, record["wall_seconds"], path)


def _masks_native_apgd(classifier: Any, x: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, float]:
    import art_ext

    attack = art_ext.get_attack("apgd", classifier, eps=EPS, loss=loss, max_iter=STEPS, nb_restarts=1,
                                batch_size=500, seed=SEED)
    start = time.perf_counter()
    x_adv = attack.generate(x, y)
    seconds = time.perf_counter() - start
    return classifier.predict(x_adv).argmax(1) == y, seconds


def _masks_art_apgd(classifier: Any, x: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, float]:
    from art.attacks.evasion import AutoProjectedGradientDescent

    np.random.seed(SEED)
    attack = AutoProjectedGradientDescent(
        classifier, norm=np.inf, eps=EPS, eps_step=2 * EPS, max_iter=STEPS, targeted=False, nb_random_init=1,
        batch_size=500, loss_type={"ce": "cross_entropy", "dlr": "difference_logits_ratio"}[loss], verbose=False)
    start = time.perf_counter()
    x_adv = attack.generate(x, np.eye(10, dtype=np.float32)[y])
    seconds = time.perf_counter() - start
    return classifier.predict(x_adv).argmax(1) == y, seconds


def _interval_of(mask: np.ndarray) -> list[float]:
    from art_ext.evaluation.stats import wilson_interval

    return list(wilson_interval(int(mask.sum()), len(mask)))


def _compare(native: np.ndarray, art: np.ndarray, clean: np.ndarray) -> dict[str, Any]:
    from art_ext.evaluation.report import mask_to_string
    from art_ext.evaluation.stats import paired_difference

    native_robust, art_robust = native & clean, art & clean
    paired = paired_difference(native_robust, art_robust)
    return {
        "native_mask": mask_to_string(native_robust), "art_mask": mask_to_string(art_robust),
        "native_accuracy": float(native_robust.mean()), "native_ci95": _interval_of(native_robust),
        "art_accuracy": float(art_robust.mean()), "art_ci95": _interval_of(art_robust),
        "difference_native_minus_art": paired["difference"], "difference_ci95": paired["ci95"],
        "p_value": paired["p_value"],
        "broken_by_native_only": [int(i) for i in np.flatnonzero(art_robust & ~native_robust)],
        "broken_by_art_only": [int(i) for i in np.flatnonzero(native_robust & ~art_robust)],
    }


def stage_agreement(args: argparse.Namespace, data: setup.Data) -> None:
    classifier = _classifier(args)
    x, y = data.x_test[: args.n], data.y_test[: args.n]
    clean = classifier.predict(x).argmax(1) == y
    result = _record(args, "agreement")
    result["clean_accuracy"] = float(clean.mean())
    result["budget"] = {"iterations": STEPS, "restarts": 1, "initial_step": 2 * EPS}
    for loss in ("ce", "dlr"):
        native, native_s = _masks_native_apgd(classifier, x, y, loss)
        art, art_s = _masks_art_apgd(classifier, x, y, loss)
        result[f"apgd-{loss}"] = {**_compare(native, art, clean), "native_seconds": native_s, "art_seconds": art_s,
                                  "speedup": art_s / native_s}
        logger.info("APGD-%s: native %.3f (%.0f s), ART %.3f (%.0f s)", loss, result[f"apgd-{loss}"]["native_accuracy"],
                    native_s, result[f"apgd-{loss}"]["art_accuracy"], art_s)
        _write(Path(args.out), "agreement.json", result)


def _art_list(classifier: Any, x: np.ndarray, y: np.ndarray, *, channels_last: bool | None) -> tuple[Any, dict[str, Any]]:
    from art_ext.evaluation import evaluate

    report = evaluate(classifier, x, y, eps=EPS, pgd_steps=0, autoattack_version="art-default", seed=SEED,
                      channels_last=channels_last)
    result = report.attacks["autoattack-art-default"]
    return result, {
        "n": len(y), "accuracy": result.accuracy, "ci95": list(report.interval("autoattack-art-default")),
        "seconds": result.seconds, "seconds_per_image": result.seconds / len(y),
        "broken_by": result.extra.get("broken_by", {}), "channels_last": report.info["channels_last"],
    }


def stage_lists(args: argparse.Namespace, data: setup.Data) -> None:
    """Native ``standard`` on ``--n`` images, then ART's ``art-default`` on the first ``--n-art``
    in the same layout (both run by :func:`art_ext.evaluation.evaluate`, which holds a conv net's
    weights channels_last on a CPU: engine against engine) and, with ``--art-as-given``, once more
    with the model as the user gave it (NCHW weights: ART as it runs on its own)."""
    from art_ext.evaluation import evaluate

    classifier = _classifier(args)
    x, y = data.x_test[: args.n], data.y_test[: args.n]
    result = _record(args, "lists")
    native = evaluate(classifier, x, y, eps=EPS, pgd_steps=0, autoattack_version="standard", seed=SEED)
    native_result = native.attacks["autoattack-standard"]
    result["native_standard"] = {
        "n": args.n, "accuracy": native_result.accuracy, "ci95": list(native.interval("autoattack-standard")),
        "clean_accuracy": float(native.clean.mean()), "seconds": native_result.seconds,
        "seconds_per_image": native_result.seconds / args.n, "broken_by": native_result.extra["broken_by"],
        "member_seconds": native_result.extra["seconds"], "channels_last": native.info["channels_last"],
    }
    logger.info("native standard: %.3f in %.0f s", native_result.accuracy, native_result.seconds)
    _write(Path(args.out), _lists_file(args.method), result)
    m = args.n_art
    art_result, result["art_default"] = _art_list(classifier, x[:m], y[:m], channels_last=None)
    result["native_vs_art_on_common"] = _compare(native_result.robust[:m], art_result.robust, native.clean[:m])
    result["speedup_per_image"] = result["art_default"]["seconds_per_image"] / result["native_standard"]["seconds_per_image"]
    logger.info("ART art-default: %.3f in %.0f s on %d images; speed-up per image %.1fx", art_result.accuracy,
                art_result.seconds, m, result["speedup_per_image"])
    _write(Path(args.out), _lists_file(args.method), result)
    if args.art_as_given:
        given, result["art_default_as_given"] = _art_list(classifier, x[:m], y[:m], channels_last=False)
        result["speedup_per_image_vs_as_given"] = (result["art_default_as_given"]["seconds_per_image"]
                                                   / result["native_standard"]["seconds_per_image"])
        result["art_layouts_agree"] = int(np.sum(given.robust != art_result.robust)) == 0
        logger.info("ART art-default as given: %.3f in %.0f s; speed-up per image %.1fx", given.accuracy,
                    given.seconds, result["speedup_per_image_vs_as_given"])
        _write(Path(args.out), _lists_file(args.method), result)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _interval(pair: list[float]) -> str:
    return f"[{100 * pair[0]:+.1f}, {100 * pair[1]:+.1f}]"


def _setup_line(source: dict[str, Any]) -> str:
    hw = source["environment"]["hardware"]
    return (f"Model: {source['model']}. Data: {source['data']}. Linf eps {source['eps']}, float32, "
            f"{source['environment']['torch_threads']} torch thread(s), CPU {hw.get('cpu_model', hw.get('cpu_capability'))}, "
            f"load average at the start {source['environment'].get('load_avg')}.")


def agreement_table(agreement: dict[str, Any]) -> str:
    lines = [f"{agreement['n']} images, {agreement['budget']['iterations']} iterations, 1 restart, initial step 2 eps. "
             "Robust accuracy (%) with 95% Wilson intervals; native - ART in points, paired bootstrap 95% interval. "
             + _setup_line(agreement), "",
             "| attack | native % | ART % | native - ART | broken only by native | only by ART | native s | ART s | ART / native time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for loss in ("ce", "dlr"):
        r = agreement.get(f"apgd-{loss}")
        if r:
            lines.append(f"| APGD-{loss.upper()} | {_pct(r['native_accuracy'])} | {_pct(r['art_accuracy'])} | "
                         f"{100 * r['difference_native_minus_art']:+.1f} {_interval(r['difference_ci95'])} | "
                         f"{len(r['broken_by_native_only'])} | {len(r['broken_by_art_only'])} | "
                         f"{r['native_seconds']:.0f} | {r['art_seconds']:.0f} | {r['speedup']:.1f}x |")
    return "\n".join(lines)


def lists_table(lists: dict[str, Any]) -> str:
    ns = lists["native_standard"]
    lines = [_setup_line(lists), "",
             "| list | images | robust % [95% CI] | seconds | s / image | broken by (first) |", "|---|---|---|---|---|---|",
             f"| native `standard` (APGD-CE, APGD-T, FAB-T, Square) | {ns['n']} | {_pct(ns['accuracy'])} "
             f"[{_pct(ns['ci95'][0])}, {_pct(ns['ci95'][1])}] | {ns['seconds']:.0f} | {ns['seconds_per_image']:.2f} | "
             f"{', '.join(f'{k} {v}' for k, v in ns['broken_by'].items())} |"]
    if "art_default" in lists:
        ad = lists["art_default"]
        lines.append(f"| ART `art-default` (APGD-CE, APGD-DLR x5, DeepFool, Square x5) | {ad['n']} | {_pct(ad['accuracy'])} "
                     f"[{_pct(ad['ci95'][0])}, {_pct(ad['ci95'][1])}] | {ad['seconds']:.0f} | {ad['seconds_per_image']:.2f} | "
                     f"{', '.join(f'{k} {v}' for k, v in ad.get('broken_by', {}).items())} |")
        given = lists.get("art_default_as_given")
        if given:
            lines.append(f"| ART `art-default`, model's own NCHW weights | {given['n']} | {_pct(given['accuracy'])} "
                         f"[{_pct(given['ci95'][0])}, {_pct(given['ci95'][1])}] | {given['seconds']:.0f} | "
                         f"{given['seconds_per_image']:.2f} | "
                         f"{', '.join(f'{k} {v}' for k, v in given.get('broken_by', {}).items())} |")
        c = lists["native_vs_art_on_common"]
        lines += ["", f"On the {ad['n']} common images: native `standard` {_pct(c['native_accuracy'])}%, ART "
                  f"`art-default` {_pct(c['art_accuracy'])}%, native - ART {100 * c['difference_native_minus_art']:+.1f} "
                  f"points {_interval(c['difference_ci95'])} (negative: the native list is stronger); broken only by the "
                  f"native list: {len(c['broken_by_native_only'])} images, only by ART's: {len(c['broken_by_art_only'])}. "
                  f"Wall time per image, ART / native: {lists['speedup_per_image']:.1f}x"
                  + (f" in the same layout ({_layout(ns)}), {lists['speedup_per_image_vs_as_given']:.1f}x against ART "
                     "with the model's own NCHW weights (as ART runs on its own)" if given else "") + "."]
    return "\n".join(lines)


def _layout(record: dict[str, Any]) -> str:
    return "conv weights and inputs channels_last" if record.get("channels_last") else "NCHW"


def readme_tables(results_root: Path) -> dict[str, str]:
    return _blocks(results_root / "autoattack")


def _blocks(folder: Path) -> dict[str, str]:
    blocks: dict[str, str] = {}
    if (folder / "agreement.json").is_file():
        blocks["autoattack-agreement"] = agreement_table(json.loads((folder / "agreement.json").read_text()))
    every = [f for f in [folder / "lists.json", *sorted(folder.glob("lists-*.json"))] if f.is_file()]
    if every:
        blocks["autoattack-lists"] = "\n\n".join(lists_table(json.loads(f.read_text())) for f in every)
    if (folder / "lists.json").is_file():
        lists = json.loads((folder / "lists.json").read_text())
        if "speedup_per_image" in lists:
            ns, ad = lists["native_standard"], lists["art_default"]
            rows = ["| measure | value |", "|---|---|",
                    f"| native standard / ART art-default, wall time per image, same layout | "
                    f"{ns['seconds_per_image']:.2f} s / {ad['seconds_per_image']:.2f} s ({lists['speedup_per_image']:.1f}x) |"]
            given = lists.get("art_default_as_given")
            if given:
                rows.append(f"| the same, ART with the model's own NCHW weights | {ns['seconds_per_image']:.2f} s / "
                            f"{given['seconds_per_image']:.2f} s ({lists['speedup_per_image_vs_as_given']:.1f}x) |")
            blocks["autoattack-headline"] = "\n".join(rows)
    return blocks


def stage_report(args: argparse.Namespace) -> None:
    blocks = _blocks(Path(args.out))
    if not blocks:
        raise SystemExit(f"nothing in {args.out}: run the other stages first")
    text = "\n\n".join(["# AutoAttack, native against ART", *(blocks[k] for k in ("autoattack-agreement", "autoattack-lists")
                                                               if k in blocks)]) + "\n"
    (Path(args.out) / "results.md").write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("model", "agreement", "lists", "report"))
    parser.add_argument("--out", default="benchmarks/results/autoattack")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $ART_EXT_DATA/mnist)")
    parser.add_argument("--cache", default=str(default_cache_dir() / "benchmarks-autoattack"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-art", type=int, default=200)
    parser.add_argument("--method", default="pgd", choices=("pgd", "fbf", "trades", "nfgsm"),
                        help="model and lists: the trainer benchmark's method the SmallCNN is trained with")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--art-as-given", action="store_true",
                        help="lists: also run ART's list with the model's own (NCHW) weight layout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.stage == "report":
        stage_report(args)
        return 0
    data = setup.Data(args.data_dir or str(data_root() / "mnist"))
    {"model": stage_model, "agreement": stage_agreement, "lists": stage_lists}[args.stage](args, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
