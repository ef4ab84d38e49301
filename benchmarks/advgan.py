"""AdvGAN benchmark on MNIST: attack success, targeted success, black-box distillation,
throughput vs ART PGD-40 and Foolbox LinfPGD, and GAN-based vs PGD adversarial training.

    python benchmarks/advgan.py --out benchmarks/results/advgan
    python benchmarks/advgan.py --out benchmarks/results/advgan/fits --stages clean,fits --gan-epochs 12 --gan-batch 64 --threads 1

Data: ``../shared/data/mnist`` (``--data-dir``), first 8,000 images train, last 2,000 test
(``art_ext.data.load_mnist``). Model: ``art_ext.models.SmallCNN`` trained 5 epochs (seed 0).
Threat model: L_inf, eps 0.3, images in [0, 1].

Stages (``--stages``, default all; each writes ``<out>/<stage>.json`` as soon as it is done):

* ``clean``: train the SmallCNN, clean test accuracy;
* ``untargeted``: AdvGAN (semi-whitebox, default loss weights) fitted on the 8,000 training images,
  success rate on the 2,000 test images (fraction misclassified, also among the correctly
  classified ones), perturbation norms, fit time;
* ``fits``: the untargeted AdvGAN fitted again with each AdvGAN seed of ``--fit-seeds`` (same CNN,
  data and settings): a fitted generator is a training run, so its success is reported over fits
  (mean, between-fit sd, range, t-interval over fits; issue 25), each fit with its Wilson interval;
* ``targeted``: one conditional AdvGAN, success rate for each target class t on the test images
  whose label is not t, averaged over the ten classes;
* ``throughput``: the fitted AdvGAN's ``generate`` vs ART ``ProjectedGradientDescent`` (40 steps,
  step 2.5 eps/40, one random start, batch 128) vs Foolbox ``LinfPGD`` (40 steps, its defaults)
  on the same model and the same ``--n-throughput`` test images, measured side by side;
* ``blackbox``: AdvGAN in black-box mode (dynamic distillation, SmallCNN surrogate) against the
  same CNN wrapped as an ART ``BlackBoxClassifier``; success rate and number of target queries;
* ``precision``: the same untargeted AdvGAN fitted with the default policy (``precision="auto"``:
  bf16 autocast where the CPU runs it natively) and with ``precision="fp32"``, side by side: fit and
  generate time, success with its 95% interval (issue 14: success within 1 point);
* ``trainers``: from the clean CNN, fine-tune one copy with art-ext's ``pgd`` trainer (PGD-7) and
  one with the ``advgan`` trainer for the same epochs on the same data; clean accuracy, robust
  accuracy (:func:`art_ext.evaluation.evaluate`: PGD-50x3 on ``--n-robust`` test images and
  Croce & Hein's standard AutoAttack list, native, on ``--n-autoattack``), training time; then AdvGAN (fitted
  against the PGD-trained CNN) success on it.

``--threads`` (default 2) sets ``torch.set_num_threads``. Epoch counts are arguments so that the
run fits a CPU budget; the defaults and the machine's load are recorded in ``results.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from art_ext.core.device import hardware_info
from art_ext.data import data_root, portable_command, portable_path

logger = logging.getLogger("benchmarks.advgan")
STAGES = ("clean", "untargeted", "fits", "targeted", "throughput", "blackbox", "precision", "trainers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="benchmarks/results/advgan")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $ART_EXT_DATA/mnist, else ~/art-ext-data/mnist)")
    p.add_argument("--stages", default=",".join(STAGES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--kappa", type=float, default=0.0,
                   help="AdvGAN margin confidence for every AdvGAN fit (paper and default: 0)")
    p.add_argument("--cnn-epochs", type=int, default=5)
    p.add_argument("--gan-epochs", type=int, default=3, help="AdvGAN fit epochs (untargeted)")
    p.add_argument("--targeted-epochs", type=int, default=3)
    p.add_argument("--gan-batch", type=int, default=32, help="AdvGAN fit batch size")
    p.add_argument("--bb-epochs", type=int, default=2)
    p.add_argument("--bb-distill-epochs", type=int, default=2)
    p.add_argument("--n-throughput", type=int, default=500)
    p.add_argument("--generate-batch", type=int, default=512, help="AdvGAN generate batch size (throughput)")
    p.add_argument("--trainer-epochs", type=int, default=1)
    p.add_argument("--trainer-n-train", type=int, default=4000)
    p.add_argument("--trainer-max-iter", type=int, default=7)
    p.add_argument("--defended-gan-epochs", type=int, default=2)
    p.add_argument("--n-robust", type=int, default=500)
    p.add_argument("--n-autoattack", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fit-seeds", default="0,1,2,3,4", help="fits: the AdvGAN seeds, one fit each")
    p.add_argument("--reuse-cnn", action="store_true",
                   help="load <out>/cnn.pt (written by an earlier run's clean stage) instead of retraining")
    return p.parse_args(argv)


def load_avg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def success(classifier: Any, x_adv: np.ndarray, y: np.ndarray, targeted: bool = False) -> float:
    pred = np.argmax(classifier.predict(x_adv, batch_size=512), axis=1)
    return float(np.mean(pred == y) if targeted else np.mean(pred != y))


def success_ci(rate: float, n: int) -> list[float]:
    from art_ext.evaluation import wilson_interval

    return list(wilson_interval(round(rate * n), n))


def norms(x_adv: np.ndarray, x: np.ndarray) -> dict[str, float]:
    d = (x_adv - x).reshape(len(x), -1)
    return {"linf_max": float(np.abs(d).max()), "linf_mean": float(np.abs(d).max(axis=1).mean()),
            "l2_mean": float(np.linalg.norm(d, axis=1).mean())}


def copy_classifier(classifier: Any) -> Any:
    from art_ext.models import make_classifier

    model = copy.deepcopy(classifier.model)
    return make_classifier(model, classifier.input_shape, classifier.nb_classes)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from art_ext.data import load_mnist

        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        data_dir = args.data_dir or str(data_root() / "mnist")
        self.data = load_mnist(data_dir, full=False)  # the recorded split: t10k alone, positional
        self.results: dict[str, Any] = {
            "benchmark": "advgan",
            "command": portable_command([Path(sys.executable).name, *sys.argv]),
            "args": {k: portable_path(v) if isinstance(v, str) and os.path.isabs(v) else v for k, v in vars(args).items()},
            "data": self.data.split,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
                        "torch": torch.__version__, "cuda": torch.cuda.is_available(),
                        "load_avg_start": load_avg(), "hardware": hardware_info()},
        }
        previous = self.out / "results.json"
        if previous.is_file():  # keep the stages of earlier runs that this run does not repeat
            old = json.loads(previous.read_text())
            self.results["earlier_runs"] = [*old.get("earlier_runs", []), {"command": old.get("command"), "machine": old.get("machine"), "total_time_s": old.get("total_time_s")}]
            for stage in STAGES:
                if stage in old:
                    self.results[stage] = old[stage]
        self.classifier: Any = None
        self.advgan: Any = None
        self.pgd_classifier: Any = None

    def save_stage(self, name: str, record: dict[str, Any]) -> None:
        record["load_avg"] = load_avg()
        record.setdefault("kappa", self.args.kappa)
        self.results[name] = record
        (self.out / f"{name}.json").write_text(json.dumps(record, indent=2))
        logger.info("%s: %s", name, json.dumps(record))

    # -------------------------------------------------------------- stages
    def clean(self) -> None:
        from art_ext.models import SmallCNN, accuracy, make_classifier, trained_small_cnn

        d = self.data
        cache = self.out / "cnn.pt"
        if self.args.reuse_cnn and cache.is_file():
            model = SmallCNN(d.input_shape, 10)
            model.load_state_dict(torch.load(cache, weights_only=True))
            model.eval()
            self.classifier = make_classifier(model, d.input_shape, 10)
            earlier = self.out / "clean.json"
            record = json.loads(earlier.read_text()) if earlier.is_file() else {}
            record["reused"] = portable_path(cache)
            record["clean_acc"] = accuracy(self.classifier, d.x_test, d.y_test)
            self.save_stage("clean", record)
            return
        t = time.perf_counter()
        self.classifier = trained_small_cnn(d.x_train, d.y_train, epochs=self.args.cnn_epochs, seed=self.args.seed)
        record = {"epochs": self.args.cnn_epochs, "train_time_s": time.perf_counter() - t,
                  "clean_acc": accuracy(self.classifier, d.x_test, d.y_test)}
        torch.save(self.classifier.model.state_dict(), cache)
        self.save_stage("clean", record)

    def _fit_advgan(self, classifier: Any, epochs: int, seed: int | None = None, **params: Any) -> Any:
        import art_ext

        attack = art_ext.get_attack("advgan", classifier, eps=self.args.eps, nb_epochs=epochs, kappa=self.args.kappa,
                                    batch_size=self.args.gan_batch, seed=self.args.seed if seed is None else seed,
                                    verbose=False, **params)
        attack.fit(self.data.x_train, self.data.y_train)
        return attack

    def untargeted(self) -> None:
        d = self.data
        attack = self._fit_advgan(self.classifier, self.args.gan_epochs)
        self.advgan = attack
        t = time.perf_counter()
        x_adv = attack.generate(d.x_test)
        gen_time = time.perf_counter() - t
        correct = np.argmax(self.classifier.predict(d.x_test), axis=1) == d.y_test
        record = {
            "epochs": self.args.gan_epochs, "batch_size": self.args.gan_batch, "fit_time_s": attack.fit_time_s,
            "success_rate": success(self.classifier, x_adv, d.y_test), "n": len(d.y_test),
            "success_rate_on_correct": success(self.classifier, x_adv[correct], d.y_test[correct]),
            "generate_time_s": gen_time, **norms(x_adv, d.x_test),
            "train_success_per_epoch": attack.history["success"],
            "params": {k: getattr(attack, k) for k in ("eps", "alpha", "beta", "c", "kappa", "learning_rate")},
        }
        record["success_ci95"] = success_ci(record["success_rate"], len(d.y_test))
        attack.save(self.out / "advgan_untargeted.safetensors")
        self.save_stage("untargeted", record)

    def fits(self) -> None:
        from art_ext.evaluation.stats import method_interval

        d = self.data
        record: dict[str, Any] = {"epochs": self.args.gan_epochs, "batch_size": self.args.gan_batch, "n": len(d.y_test),
                                  "per_fit": []}
        for seed in (int(s) for s in self.args.fit_seeds.split(",") if s.strip()):
            attack = self._fit_advgan(self.classifier, self.args.gan_epochs, seed=seed)
            rate = success(self.classifier, attack.generate(d.x_test), d.y_test)
            record["per_fit"].append({"seed": seed, "success_rate": rate, "success_ci95": success_ci(rate, len(d.y_test)),
                                      "fit_time_s": attack.fit_time_s})
            rates = [f["success_rate"] for f in record["per_fit"]]
            record["over_fits"] = {**method_interval(rates), "min": min(rates), "max": max(rates)}
            self.save_stage("fits", record)  # after every fit: an interrupted run keeps its fits

    def precision(self) -> None:
        """The default policy against fp32, side by side on the same data and seed."""
        d = self.data
        record: dict[str, Any] = {"epochs": self.args.gan_epochs, "batch_size": self.args.gan_batch}
        for precision in ("auto", "fp32"):
            attack = self._fit_advgan(self.classifier, self.args.gan_epochs, precision=precision)
            attack.generate(d.x_test[:64])  # warm-up
            t = time.perf_counter()
            x_adv = attack.generate(d.x_test)
            rate = success(self.classifier, x_adv, d.y_test)
            record[precision] = {"resolved": attack.policy.precision, "fit_time_s": attack.fit_time_s,
                                 "generate_time_s": time.perf_counter() - t, "success_rate": rate,
                                 "success_ci95": success_ci(rate, len(d.y_test)), "n": len(d.y_test),
                                 "linf_max": float(np.abs(x_adv - d.x_test).max())}
        record["fit_speedup"] = record["fp32"]["fit_time_s"] / record["auto"]["fit_time_s"]
        record["success_difference_points"] = 100 * (record["auto"]["success_rate"] - record["fp32"]["success_rate"])
        record["hardware"] = hardware_info()
        self.save_stage("precision", record)

    def targeted(self) -> None:
        d = self.data
        attack = self._fit_advgan(self.classifier, self.args.targeted_epochs, targeted=True)
        per_class: dict[str, float] = {}
        for t in range(10):
            keep = d.y_test != t
            targets = np.full(int(keep.sum()), t, dtype=np.int64)
            x_adv = attack.generate(d.x_test[keep], targets)
            per_class[str(t)] = success(self.classifier, x_adv, targets, targeted=True)
        record = {"epochs": self.args.targeted_epochs, "fit_time_s": attack.fit_time_s,
                  "success_rate_mean": float(np.mean(list(per_class.values()))), "per_target": per_class,
                  "train_success_per_epoch": attack.history["success"]}
        self.save_stage("targeted", record)

    def throughput(self) -> None:
        import foolbox as fb

        import art_ext

        d = self.data
        n = min(self.args.n_throughput, len(d.x_test))
        x, y = d.x_test[:n], d.y_test[:n]
        attack = self.advgan
        if attack is None:
            from art_ext_plugins.gan.advgan import AdvGAN

            attack = AdvGAN.load(self.out / "advgan_untargeted.safetensors", self.classifier)
            attack.fit_time_s = float(self.results["untargeted"]["fit_time_s"])
        attack.batch_size = self.args.generate_batch
        attack.generate(x[:64])  # warm-up
        times = []
        for _ in range(5):  # the generator's pass is short: median of 5 against load noise
            t = time.perf_counter()
            x_gan = attack.generate(x)
            times.append(time.perf_counter() - t)
        t_gan = float(np.median(times))

        pgd = art_ext.get_attack("art.pgd", self.classifier, eps=self.args.eps, max_iter=40, batch_size=128)
        t = time.perf_counter()
        x_pgd = pgd.generate(x, y=y)
        t_pgd = time.perf_counter() - t

        model = self.classifier.model.eval()
        fmodel = fb.PyTorchModel(model, bounds=(0.0, 1.0), device="cpu")
        fpgd = fb.attacks.LinfPGD(steps=40)
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        t = time.perf_counter()
        fb_adv = []
        for start in range(0, n, 128):
            _, clipped, _ = fpgd(fmodel, xt[start : start + 128], yt[start : start + 128], epsilons=self.args.eps)
            fb_adv.append(clipped)
        t_fb = time.perf_counter() - t
        x_fb = torch.cat(fb_adv).numpy()
        record = {
            "n": n,
            "advgan": {"examples_per_s": n / t_gan, "time_s": t_gan, "timing": "median of 5 runs",
                       "generate_batch": self.args.generate_batch, "success_rate": success(self.classifier, x_gan, y),
                       "fit_time_s": attack.fit_time_s},
            "art_pgd40": {"examples_per_s": n / t_pgd, "time_s": t_pgd, "success_rate": success(self.classifier, x_pgd, y)},
            "foolbox_linfpgd40": {"examples_per_s": n / t_fb, "time_s": t_fb, "success_rate": success(self.classifier, x_fb, y)},
        }
        record["speedup_vs_art_pgd40"] = record["advgan"]["examples_per_s"] / record["art_pgd40"]["examples_per_s"]
        record["speedup_vs_foolbox_pgd40"] = record["advgan"]["examples_per_s"] / record["foolbox_linfpgd40"]["examples_per_s"]
        record["break_even_examples_vs_art_pgd40"] = attack.fit_time_s / max(t_pgd / n - t_gan / n, 1e-12)
        self.save_stage("throughput", record)

    def blackbox(self) -> None:
        from art.estimators.classification import BlackBoxClassifier

        d = self.data
        target = self.classifier
        oracle = BlackBoxClassifier(lambda x: target.predict(x.astype(np.float32), batch_size=512),
                                    target.input_shape, target.nb_classes, clip_values=(0.0, 1.0))
        attack = self._fit_advgan(oracle, self.args.bb_epochs, mode="black-box",
                                  distill_epochs=self.args.bb_distill_epochs)
        x_adv = attack.generate(d.x_test)
        record = {"epochs": self.args.bb_epochs, "distill_epochs": self.args.bb_distill_epochs,
                  "fit_time_s": attack.fit_time_s, "queries": attack.n_queries,
                  "success_rate": success(target, x_adv, d.y_test),
                  "surrogate_agreement_per_epoch": attack.history["surrogate_agreement"],
                  "target_success_per_epoch_train": attack.history["target_success"], **norms(x_adv, d.x_test)}
        self.save_stage("blackbox", record)

    def _robust(self, classifier: Any) -> dict[str, Any]:
        from art_ext.evaluation import autoattack_label, evaluate

        d, a = self.data, self.args
        classifier.model.eval()
        out: dict[str, Any] = {}
        pgd = evaluate(classifier, d.x_test[: a.n_robust], d.y_test[: a.n_robust], eps=a.eps, pgd_steps=50,
                       pgd_restarts=3, autoattack_version=None, seed=a.seed)
        aa = evaluate(classifier, d.x_test[: a.n_autoattack], d.y_test[: a.n_autoattack], eps=a.eps, pgd_steps=0,
                      autoattack_version="standard", seed=a.seed)
        out.update({
            "clean_acc": pgd.accuracy("clean"), "clean_ci95": list(pgd.interval("clean")), "pgd_label": "PGD-50x3",
            "pgd_robust_acc": pgd.accuracy("PGD-50x3"), "pgd_ci95": list(pgd.interval("PGD-50x3")), "pgd_n": pgd.n,
            "autoattack_list": "standard", "autoattack_label": autoattack_label("standard"),
            "autoattack_robust_acc": aa.accuracy("autoattack-standard"),
            "autoattack_ci95": list(aa.interval("autoattack-standard")), "autoattack_n": aa.n,
            "evaluation": {"pgd": pgd.to_dict(), "autoattack": aa.to_dict()},
        })
        return out

    def trainers(self) -> None:
        import art_ext

        d, a = self.data, self.args
        n = min(a.trainer_n_train, len(d.x_train))
        x_tr, y_tr = d.x_train[:n], d.y_train[:n]
        record: dict[str, Any] = {"start": "fine-tuned from the clean SmallCNN", "n_train": n, "epochs": a.trainer_epochs}
        common = {"eps": a.eps, "nb_epochs": a.trainer_epochs, "batch_size": 128, "seed": a.seed, "verbose": False,
                  "eval_max_iter": 0}
        for name, params in (("pgd", {"max_iter": a.trainer_max_iter}), ("advgan", {})):
            classifier = copy_classifier(self.classifier)
            trainer = art_ext.get_trainer(name, classifier, **common, **params)
            t = time.perf_counter()
            trainer.fit(x_tr, y_tr)
            entry = {"train_time_s": time.perf_counter() - t, "trainer_params": {**common, **params}}
            entry.update(self._robust(classifier))
            record[name] = entry
            if name == "pgd":
                self.pgd_classifier = classifier
            self.save_stage("trainers", record)
        # AdvGAN against the PGD-trained CNN
        attack = self._fit_advgan(self.pgd_classifier, a.defended_gan_epochs)
        x_adv = attack.generate(d.x_test)
        record["advgan_vs_pgd_trained"] = {"epochs": a.defended_gan_epochs, "fit_time_s": attack.fit_time_s,
                                           "success_rate": success(self.pgd_classifier, x_adv, d.y_test)}
        self.save_stage("trainers", record)


def _ci(rate: float, ci: list[float] | None) -> str:
    return f"{100 * rate:.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def _list_label(record: dict[str, Any]) -> str:
    """The AutoAttack list of a record; records without ``autoattack_list`` ran ART's list under the old name."""
    from art_ext.evaluation.report import recorded_label

    return str(record["autoattack_label"]) if "autoattack_list" in record else recorded_label(record["autoattack_label"], 1)


def markdown(results: dict[str, Any]) -> str:
    r = results
    lines = ["# AdvGAN benchmark (MNIST, L_inf eps 0.3)", "", f"Command: `{r['command']}`  ",
             f"Data: {r['data']}  ", f"Machine: {r['machine']}", ""]
    lines += ["| measurement | value |", "|---|---|"]
    for name, value in rows(r):
        lines.append(f"| {name} | {value} |")
    lines.append("")
    return "\n".join(lines)


def rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(measurement, value) rows of one results.json."""
    out: list[tuple[str, str]] = []
    if "clean" in r:
        out.append(("SmallCNN clean test accuracy", f"{100 * r['clean']['clean_acc']:.1f}%"))
    if "untargeted" in r:
        u = r["untargeted"]
        out.append((f"untargeted success, {u.get('n', 2000)} test images ({u['epochs']} epochs, fit {u['fit_time_s']:.0f} s)",
                    _ci(u["success_rate"], u.get("success_ci95"))))
        out.append(("mean Linf / L2 of the perturbation", f"{u['linf_mean']:.3f} / {u['l2_mean']:.2f}"))
    if "fits" in r:
        f = r["fits"]
        o = f["over_fits"]
        interval = f" [{100 * o['ci95'][0]:.1f}, {100 * o['ci95'][1]:.1f}]" if o.get("ci95") else ""
        spread = f"sd {100 * o['sd']:.1f}, " if o.get("sd") is not None else ""
        out.append((f"untargeted success over {o['n']} fits (AdvGAN seeds {', '.join(str(x['seed']) for x in f['per_fit'])}; "
                    f"mean, t-interval over fits)",
                    f"{100 * o['mean']:.1f}%{interval} ({spread}range {100 * o['min']:.1f}-{100 * o['max']:.1f}%)"))
    if "targeted" in r:
        t = r["targeted"]
        low, high = min(t["per_target"].values()), max(t["per_target"].values())
        out.append((f"targeted success, mean over the 10 targets ({t['epochs']} epochs)",
                    f"{100 * t['success_rate_mean']:.1f}% (per target {100 * low:.1f}-{100 * high:.1f}%)"))
    if "throughput" in r:
        t = r["throughput"]
        out.append((f"generation throughput AdvGAN / ART PGD-40 / Foolbox LinfPGD-40 ({t['n']} images)",
                    f"{t['advgan']['examples_per_s']:,.0f} / {t['art_pgd40']['examples_per_s']:.1f} / "
                    f"{t['foolbox_linfpgd40']['examples_per_s']:.1f} ex/s"))
        out.append(("speed-up vs ART PGD-40 (vs Foolbox)", f"{t['speedup_vs_art_pgd40']:.0f}x ({t['speedup_vs_foolbox_pgd40']:.0f}x)"))
    if "blackbox" in r:
        b = r["blackbox"]
        out.append((f"black-box (distillation, {b['epochs']} + {b['distill_epochs']} epochs) success, target queries",
                    f"{100 * b['success_rate']:.1f}%, {b['queries']:,} queries"))
    if "precision" in r:
        p = r["precision"]
        out.append((f"default policy ({p['auto']['resolved']}) vs fp32: fit time", f"{p['auto']['fit_time_s']:.0f} s vs "
                    f"{p['fp32']['fit_time_s']:.0f} s ({p['fit_speedup']:.2f}x)"))
        out.append(("default policy vs fp32: untargeted success", f"{_ci(p['auto']['success_rate'], p['auto']['success_ci95'])}"
                    f" vs {_ci(p['fp32']['success_rate'], p['fp32']['success_ci95'])} "
                    f"({p['success_difference_points']:+.1f} points)"))
    if "trainers" in r:
        tr = r["trainers"]
        for name in ("pgd", "advgan"):
            if name in tr:
                e = tr[name]
                out.append((f"trainer `{name}` ({tr['epochs']} epochs, {tr['n_train']} images, {e['train_time_s']:.0f} s): "
                            f"clean / {e['pgd_label']} ({e['pgd_n']}) / {_list_label(e)} ({e['autoattack_n']})",
                            f"{_ci(e['clean_acc'], e.get('clean_ci95'))} / {_ci(e['pgd_robust_acc'], e.get('pgd_ci95'))} / "
                            f"{_ci(e['autoattack_robust_acc'], e.get('autoattack_ci95'))}"))
        if "advgan_vs_pgd_trained" in tr:
            out.append(("AdvGAN success against the `pgd`-trained CNN", f"{100 * tr['advgan_vs_pgd_trained']['success_rate']:.1f}%"))
    return out


def machine_cpu(machine: dict[str, Any]) -> str:
    """', CPU <model> (<precision the default policy takes>)' where the run recorded its hardware."""
    hardware = machine.get("hardware")
    if not hardware:
        return ""
    default = "bf16 native: the default policy fits in bf16" if hardware.get("cpu_bf16_native") else "no native bf16: fp32"
    return f", CPU {hardware.get('cpu_model')} ({default})"


def readme_tables(results_root: Path) -> dict[str, str]:
    """README blocks ``advgan-kappa0``, ``advgan-kappa5``, ``advgan-trainers``, ``advgan-fits``: one table each."""
    blocks = {}
    for name, folder in (("advgan-kappa0", "advgan"), ("advgan-kappa5", "advgan/kappa5"), ("advgan-trainers", "advgan/trainers"),
                         ("advgan-fits", "advgan/fits")):
        path = results_root / folder / "results.json"
        if path.is_file():
            results = json.loads(path.read_text())
            blocks[name] = "\n".join(["| measurement | value |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows(results)],
                                      "", f"`{results['command']}` ({results['total_time_s'] / 60:.0f} min, {results['machine']['threads']} torch "
                                      f"thread(s){machine_cpu(results['machine'])}, load average "
                                      f"{results['machine']['load_avg_start'][0]:.1f} at the start: "
                                      "times are wall clock, ratios side by side)"])
    return blocks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bench = Bench(args)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SystemExit(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    start = time.perf_counter()
    for stage in STAGES:
        if stage in stages or (stage == "clean" and bench.classifier is None):
            t = time.perf_counter()
            getattr(bench, stage)()
            logger.info("stage %s done in %.0f s", stage, time.perf_counter() - t)
    bench.results["total_time_s"] = time.perf_counter() - start
    bench.results["machine"]["load_avg_end"] = load_avg()
    bench.results["stages_run"] = stages
    previous = bench.out / "results.json"
    if previous.is_file():  # runs of other stages (possibly concurrent) finished meanwhile: merge
        old = json.loads(previous.read_text())
        for stage in STAGES:
            if stage in old and stage not in stages:
                bench.results[stage] = old[stage]
        runs = [r for r in old.get("earlier_runs", []) if r not in bench.results.get("earlier_runs", [])]
        runs.append({k: old.get(k) for k in ("command", "machine", "total_time_s", "stages_run")})
        bench.results["earlier_runs"] = [*bench.results.get("earlier_runs", []), *runs]
    (bench.out / "results.json").write_text(json.dumps(bench.results, indent=2))
    (bench.out / "results.md").write_text(markdown(bench.results))
    print(markdown(bench.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
