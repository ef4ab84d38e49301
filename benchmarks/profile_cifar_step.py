"""Where a PGD-7 adversarial-training step on the small CIFAR CNN spends its time (issue 26): the
model's forward, forward plus input-only gradient (art-ext's attack steps), forward plus input and
parameter gradients (what ART's ``loss_gradient`` computes in each of its attack steps, and what one
training step needs), on a batch of 128 random 3x32x32 images, with and without channels_last;
medians of 7 after one warm-up. The expected epoch times follow from these per-batch costs.

    python benchmarks/profile_cifar_step.py --out benchmarks/results/trainers-cifar --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import torch

from art_ext.cifar_models import CifarCNN
from art_ext.core.device import hardware_info
from art_ext.data import portable_command

BATCH, STEPS, REPEATS = 128, 7, 7


def _median_ms(step: Callable[[], None]) -> float:
    step()  # warm-up
    return 1000 * statistics.median(timeit.repeat(step, number=1, repeat=REPEATS))


def profile(channels_last: bool) -> dict[str, float]:
    torch.manual_seed(0)
    model = CifarCNN((3, 32, 32), 10)
    x, y = torch.rand(BATCH, 3, 32, 32), torch.randint(0, 10, (BATCH,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    loss = torch.nn.CrossEntropyLoss()

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def input_gradient() -> None:
        for p in model.parameters():
            p.requires_grad_(False)
        inputs = x.clone().requires_grad_(True)
        torch.autograd.grad(loss(model(inputs), y), inputs)
        for p in model.parameters():
            p.requires_grad_(True)

    def all_gradients() -> None:
        inputs = x.clone().requires_grad_(True)
        loss(model(inputs), y).backward()
        model.zero_grad(set_to_none=True)

    costs = {"forward": _median_ms(forward), "forward + input gradient": _median_ms(input_gradient),
             "forward + input and parameter gradients": _median_ms(all_gradients)}
    # a PGD-K training step: K attack steps plus one training step with parameter gradients
    costs["expected art-ext pgd step (K input-gradient steps + 1 training step)"] = (
        STEPS * costs["forward + input gradient"] + costs["forward + input and parameter gradients"])
    costs["expected ART Madry step (K + 1 steps with parameter gradients)"] = (
        (STEPS + 1) * costs["forward + input and parameter gradients"])
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/trainers-cifar")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"command": portable_command(["python", "benchmarks/profile_cifar_step.py", *sys.argv[1:]]),
              "batch": BATCH, "steps": STEPS, "repeats": REPEATS, "threads": args.threads,
              "hardware": hardware_info(), "milliseconds per batch": {
                  "contiguous": profile(False), "channels_last": profile(True)}}
    ours = result["milliseconds per batch"]["channels_last"]  # art-ext's CPU policy: channels_last
    arts = result["milliseconds per batch"]["contiguous"]  # ART feeds the model as it is
    result["bound: ART Madry / art-ext pgd from the passes alone"] = (
        arts["expected ART Madry step (K + 1 steps with parameter gradients)"]
        / ours["expected art-ext pgd step (K input-gradient steps + 1 training step)"])
    result["load_average"] = list(os.getloadavg())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile-cifar_cnn.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
