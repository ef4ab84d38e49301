"""Run by test_evaluate_ddp.py under torchrun (gloo, CPU): each rank evaluates the saved
digits model through ``evaluate`` and writes the report. argv: weights, out_dir"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
import torch.distributed as dist

warnings.filterwarnings("ignore")
torch.set_num_threads(1)


def main() -> int:
    from art_ext.data import load_digits
    from art_ext.evaluation import evaluate
    from art_ext.models import SmallCNN, make_classifier

    weights, out = sys.argv[1], sys.argv[2]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    data = load_digits()
    model = SmallCNN(data.input_shape, 10)
    model.load_state_dict(torch.load(weights, weights_only=True))
    classifier = make_classifier(model, data.input_shape, 10, data.clip_values)
    report = evaluate(classifier, data.x_test[:150], data.y_test[:150], eps=0.1, pgd_steps=5, pgd_restarts=2,
                      autoattack_version="fast", batch_size=40, seed=3)
    with open(os.path.join(out, f"w{world}-rank{rank}.json"), "w") as handle:
        json.dump(report.to_dict(), handle)
    if world > 1:
        # every rank leaves together: gloo aborts a rank whose peer destroys the group mid-exchange
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
