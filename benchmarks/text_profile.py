"""Where a MiniLM training step spends its time, fp32 against the default precision policy (issue 14).

    python benchmarks/text_profile.py --out benchmarks/results/text-precision --steps 8 --threads 1

For each text trainer (``standard`` = clean fine-tuning, ``freelb`` = FreeLB with the paper's
settings) and each precision (``auto``, which resolves to bf16 autocast on this CPU, and
``fp32``), a fresh MiniLM classifier is trained the way ``benchmarks/text.py --mode precision``
trains it (batch 32, max_length 64, lr 5e-5, the trainers' default AdamW) on the first
``--steps`` batches of MR train, after one unprofiled warm-up batch, under ``torch.profiler``.
Each aten operator's self CPU time is summed into a category (matrix products, dropout masks,
casts and copies, the optimizer step, everything else), per training step. The table says which
parts bf16 speeds up and which it leaves at fp32 speed, which is what bounds the end-to-end
speed-up. The same run times two single operators in isolation to check the reading of the
profile: training-mode ``scaled_dot_product_attention`` (dropout 0.1) and ``dropout`` at the
shapes of one batch, fp32 against bf16 inputs.

Writes ``<out>/profile.json``; :func:`readme_tables` renders it as the README block
``text-precision-profile``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from art_ext.data import data_root, portable_command

logger = logging.getLogger("benchmarks.text_profile")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "matrix products (mm, addmm, bmm)": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "dropout masks (bernoulli_)": ("aten::bernoulli_",),
    "casts and copies (copy_)": ("aten::copy_",),
    "optimizer step (fused AdamW)": ("aten::_fused_adamw_", "aten::_fused_adam_"),
}
OTHER = "everything else (elementwise, norms, softmax, masks)"


def category(op: str) -> str:
    for name, ops in CATEGORIES.items():
        if op in ops:
            return name
    return OTHER


def profile_stage(stage: str, precision: str, data: Any, steps: int, seed: int) -> dict[str, Any]:
    import numpy as np
    from art_ext_plugins.text.benchmark.suite import FREELB_PARAMS, load_classifier, minilm_path
    from art_ext_plugins.text.training.freelb import FreeLBTrainer
    from art_ext_plugins.text.training.trainers import TextTrainer
    from torch.profiler import ProfilerActivity, profile

    batch = 32
    clf = load_classifier(minilm_path(), 64, seed)
    common: dict[str, Any] = dict(lr=5e-5, nb_epochs=1, batch_size=batch, seed=seed, verbose=False, precision=precision)
    params = FREELB_PARAMS.get(stage, {})
    trainer: Any = FreeLBTrainer(clf, **params, **common) if params else TextTrainer(clf, **common)
    texts, labels = list(data.train_texts), np.asarray(data.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trainer.fit(texts[:batch], labels[:batch])  # warm-up: oneDNN kernels, allocator
        x, y = texts[batch: batch * (steps + 1)], labels[batch: batch * (steps + 1)]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            trainer.fit(x, y)
            seconds = time.perf_counter() - start
    per_category = dict.fromkeys([*CATEGORIES, OTHER], 0.0)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            per_category[category(event.key)] += event.self_cpu_time_total / 1e3 / steps
    return {"stage": stage, "precision": precision, "resolved_precision": trainer.policy.precision,
            "wall_ms_per_step": 1e3 * seconds / steps, "ms_per_step": per_category,
            "profiled_ms_per_step": sum(per_category.values())}


def single_ops(repeats: int = 20) -> dict[str, Any]:
    """Training-mode attention and dropout at one batch's shapes, fp32 vs bf16 inputs (ms)."""
    import torch
    import torch.nn.functional as F

    def median_ms(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times)

    torch.manual_seed(0)
    q, k, v = (torch.randn(32, 12, 46, 32) for _ in range(3))
    mask = torch.zeros(32, 1, 46, 46)
    hidden = torch.randn(32, 46, 384)
    def timings(dtype: torch.dtype) -> dict[str, float]:
        qd, kd, vd, md, hd = (t.to(dtype) for t in (q, k, v, mask, hidden))
        return {
            "sdpa_dropout_ms": median_ms(lambda: F.scaled_dot_product_attention(qd, kd, vd, attn_mask=md, dropout_p=0.1)),
            "sdpa_no_dropout_ms": median_ms(lambda: F.scaled_dot_product_attention(qd, kd, vd, attn_mask=md)),
            "dropout_hidden_ms": median_ms(lambda: F.dropout(hd, 0.1, True)),
        }

    return {"float32": timings(torch.float32), "bfloat16": timings(torch.bfloat16)}


# --------------------------------------------------------------------------- README


def profile_table(data: dict[str, Any]) -> str:
    rows = []
    for stage, runs in data["stages"].items():
        fp32, auto = runs["fp32"], runs["auto"]
        names = [*CATEGORIES, OTHER]
        for name in names:
            a, b = fp32["ms_per_step"][name], auto["ms_per_step"][name]
            rows.append([stage, name, f"{a:.0f}", f"{b:.0f}", f"{a / b:.2f}x" if b > 0 else "-",
                         f"{100 * b / auto['profiled_ms_per_step']:.0f}%"])
        rows.append([stage, "**wall time per step**", f"{fp32['wall_ms_per_step']:.0f}", f"{auto['wall_ms_per_step']:.0f}",
                     f"**{fp32['wall_ms_per_step'] / auto['wall_ms_per_step']:.2f}x**", ""])
    header = ["trainer", "where the time goes", "fp32 ms/step", f"auto ({data['stages']['standard']['auto']['resolved_precision']}) ms/step",
              "speed-up", "share of the auto step"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    for stage, runs in data["stages"].items():
        bound = amdahl(runs["fp32"], runs["auto"])
        lines.append(
            f"{stage}: the matrix products are {100 * bound['matmul_share']:.0f}% of the fp32 step; with them at their "
            f"measured bf16 speed-up and every other part at its fp32 time the step would be {bound['bound']:.2f}x faster, "
            f"and with free matrix products {bound['ceiling']:.2f}x.")
    ops = data["single_ops"]
    lines.append("")
    lines.append(
        "Single operators at one batch's shapes (median of 20, ms, fp32 / bf16 inputs): training-mode attention "
        f"(`scaled_dot_product_attention`, dropout 0.1) {ops['float32']['sdpa_dropout_ms']:.2f} / "
        f"{ops['bfloat16']['sdpa_dropout_ms']:.2f}; the same without dropout {ops['float32']['sdpa_no_dropout_ms']:.2f} / "
        f"{ops['bfloat16']['sdpa_no_dropout_ms']:.2f}; hidden-state dropout {ops['float32']['dropout_hidden_ms']:.2f} / "
        f"{ops['bfloat16']['dropout_hidden_ms']:.2f}. "
        f"{data['steps']} steps of batch 32 per run, {data['environment']['torch_threads']} torch thread, "
        f"load average {data['environment']['load_avg'][0]:.2f} before the run."
    )
    return "\n".join(lines)


def amdahl(fp32: dict[str, Any], auto: dict[str, Any]) -> dict[str, float]:
    """What the matrix products alone allow: the profiled fp32 step with only its matrix products
    replaced by their bf16 time (``bound``), or by nothing (``ceiling``)."""
    name = next(iter(CATEGORIES))
    total, matmul = fp32["profiled_ms_per_step"], fp32["ms_per_step"][name]
    rest = total - matmul
    return {"matmul_share": matmul / total, "bound": total / (rest + auto["ms_per_step"][name]),
            "ceiling": total / rest}


def readme_tables(results_root: Path) -> dict[str, str]:
    path = results_root / "text-precision" / "profile.json"
    return {"text-precision-profile": profile_table(json.loads(path.read_text()))} if path.is_file() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/text-precision")
    parser.add_argument("--data-dir", default=str(data_root() / "mr"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from art_ext.core.device import set_threads
    from art_ext.data import load_mr

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from trainers import environment

    set_threads(args.threads)
    data = load_mr(args.data_dir)
    env = environment(torch.get_num_threads())
    result: dict[str, Any] = {"command": portable_command(["python", "benchmarks/text_profile.py",
                                                               *(sys.argv[1:] if argv is None else argv)]),
                              "steps": args.steps, "environment": env, "stages": {}}
    for stage in ("standard", "freelb"):
        result["stages"][stage] = {p: profile_stage(stage, p, data, args.steps, args.seed) for p in ("auto", "fp32")}
        logger.info("%s: %s", stage, {p: round(r["wall_ms_per_step"]) for p, r in result["stages"][stage].items()})
    result["single_ops"] = single_ops()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "profile.md").write_text(f"# Issue 14: where a MiniLM training step spends its time\n\n`{result['command']}`\n\n"
                                    + profile_table(result) + "\n")
    print(profile_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
