"""Run by test_ddp.py under torchrun (gloo, CPU): PGD training on a digits subset; each rank
writes its final weights and test accuracies. argv: out_dir"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

N, EPOCHS, BATCH = 600, 2, 64


def main() -> int:
    import art_ext
    from art_ext.data import load_digits
    from art_ext.evaluation import evaluate
    from art_ext.models import SmallCNN, make_classifier, train_model

    out = sys.argv[1]
    rank = int(os.environ.get("RANK", "0"))
    data = load_digits()
    torch.manual_seed(0)
    model = SmallCNN(data.input_shape, 10)
    train_model(model, data.x_train[:N], data.y_train[:N], epochs=4, seed=0)  # same clean start
    if rank:  # perturb the other ranks' copies: DDP must broadcast rank 0's weights
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
    clf = make_classifier(model, data.input_shape, 10, data.clip_values)
    trainer = art_ext.get_trainer("pgd", clf, eps=0.2, max_iter=3, nb_epochs=EPOCHS, batch_size=BATCH,
                                  seed=0, verbose=False)
    trainer.fit(data.x_train[:N], data.y_train[:N])
    report = evaluate(clf, data.x_test, data.y_test, eps=0.2, pgd_steps=10, pgd_restarts=1, autoattack_version=None)
    clean, robust = report.accuracy("clean"), report.accuracy("worst")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    torch.save(clf.model.state_dict(), os.path.join(out, f"w{world}-rank{rank}.pt"))
    with open(os.path.join(out, f"w{world}-rank{rank}.json"), "w") as handle:
        json.dump({"clean": clean, "robust": robust, "steps": trainer.history[-1]["step"]}, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
