"""The collapse guard: catches catastrophic overfitting on real data, reacts as asked
(rollback / stop / warn), is logged, resumes with the run, and leaves healthy runs alone."""

from __future__ import annotations

import copy

import pytest
import torch

import art_ext
from art_ext.core.guard import CollapseGuard
from art_ext.models import make_classifier


def _fresh(digits, digits_classifier, lr=1e-3):
    return make_classifier(copy.deepcopy(digits_classifier.model), digits.input_shape, 10, digits.clip_values, lr=lr)


@pytest.mark.slow
def test_fbf_with_a_large_step_and_high_lr_trips_the_guard_nfgsm_does_not(digits, digits_classifier):
    fired = {}
    # Settings where FBF overfits catastrophically on both kinds of CPU: on the AMD EPYC (bf16 without AMX)
    # the former 15 epochs at lr 2e-3 and alpha 0.5 overfit only at the very last check, if at all
    for name, params in [("fbf", {"alpha": 0.625}), ("nfgsm", {})]:
        trainer = art_ext.get_trainer(name, _fresh(digits, digits_classifier, lr=5e-3), eps=0.25, nb_epochs=20,
                                      batch_size=64, seed=0, verbose=False, on_collapse="warn", **params)
        trainer.guard.every = 5
        trainer.fit(digits.x_train, digits.y_train)
        fired[name] = trainer.guard.events
        assert trainer.guard.checks_run == 20 * 23 // 5
    assert fired["fbf"], "FGSM with step 2.5 eps should overfit catastrophically here"
    event = fired["fbf"][0]
    assert event["action"] == "warn" and event["fgsm_acc"] - event["pgd_acc"] >= 0.3  # FGSM no longer finds what PGD finds
    assert not fired["nfgsm"], fired["nfgsm"]


class Scripted(CollapseGuard):
    """A guard whose measurements follow a script: (pgd accuracy, fgsm accuracy) per check."""

    def __init__(self, script, **kwargs):
        super().__init__(every=2, **kwargs)
        self.script = list(script)

    def _measure(self, trainer):
        return self.script.pop(0) if self.script else (0.5, 0.6)


def _run(digits, digits_classifier, guard, tmp_path=None, epochs=2, **params):
    trainer = art_ext.get_trainer("fbf", _fresh(digits, digits_classifier), eps=0.2, nb_epochs=epochs, batch_size=64,
                                  seed=0, verbose=False, guard=guard, checkpoint_dir=tmp_path, **params)
    trainer.fit(digits.x_train[:512], digits.y_train[:512])
    return trainer


def test_rollback_restores_the_last_good_state_and_halves_the_step(digits, digits_classifier):
    snapshots = []

    class Recording(Scripted):
        def _snapshot(self, trainer):
            state = super()._snapshot(trainer)
            snapshots.append((trainer.global_step, state))
            return state

        def _restore(self, trainer):
            super()._restore(trainer)
            self.restored = {k: v.clone() for k, v in trainer.module.state_dict().items()}

    guard = Recording([(0.5, 0.6), (0.5, 0.6), (0.1, 0.7), (0.5, 0.6)], on_collapse="rollback")
    trainer = _run(digits, digits_classifier, guard, epochs=1)
    assert [e["step"] for e in guard.events] == [6] and guard.events[0]["action"] == "rollback"
    assert guard.step_scale == 0.5 and trainer.step_scale == 0.5
    good_step, good = [s for s in snapshots if s[0] <= 4][-1]
    assert good_step == 4
    for key, value in good["modules"]["model"].items():
        assert torch.equal(guard.restored[key], value), key
    assert trainer.history[-1]["guard_fired"] == 1 and "guard_pgd_acc" in trainer.history[-1]


def test_stop_ends_training_and_warn_only_reports(digits, digits_classifier):
    stopped = _run(digits, digits_classifier, Scripted([(0.5, 0.6), (0.1, 0.7)], on_collapse="stop"), epochs=3)
    assert len(stopped.history) == 1 and stopped.guard.events[0]["action"] == "stop"
    warned = _run(digits, digits_classifier, Scripted([(0.5, 0.6), (0.1, 0.7)], on_collapse="warn"), epochs=2)
    assert len(warned.history) == 2 and warned.guard.step_scale == 1.0 and warned.guard.events[0]["action"] == "warn"
    limited = _run(digits, digits_classifier, Scripted([(0.5, 0.6), *[(0.0, 0.9)] * 10], on_collapse="rollback",
                                                       max_rollbacks=1), epochs=3)
    assert [e["action"] for e in limited.guard.events] == ["rollback", "stop"]


def test_criterion():
    guard = CollapseGuard()
    assert not guard.collapsed(0.08, 0.40)  # early training: FGSM ahead of PGD, not yet overfitting
    assert guard.collapsed(0.04, 0.69)  # never gained robustness and FGSM accuracy is high
    guard.best_pgd = 0.5
    assert guard.collapsed(0.2, 0.6) and not guard.collapsed(0.4, 0.6) and not guard.collapsed(0.2, 0.3)


def test_guard_defaults_and_parameters(digits, digits_classifier):
    assert art_ext.get_trainer("fbf", _fresh(digits, digits_classifier), eps=0.2).guard is not None
    assert art_ext.get_trainer("nfgsm", _fresh(digits, digits_classifier), eps=0.2).guard is not None
    assert art_ext.get_trainer("pgd", _fresh(digits, digits_classifier), eps=0.2).guard is None
    assert art_ext.get_trainer("pgd", _fresh(digits, digits_classifier), eps=0.2, guard=True).guard is not None
    assert art_ext.get_trainer("fbf", _fresh(digits, digits_classifier), eps=0.2, guard=False).guard is None
    with pytest.raises(TypeError, match="guard must be"):
        art_ext.get_trainer("fbf", _fresh(digits, digits_classifier), eps=0.2, guard="yes")
    for params, word in [({"n_examples": 0}, "n_examples"), ({"drop": 0.0}, "drop"), ({"on_collapse": "x"}, "on_collapse"),
                         ({"step_factor": 1.0}, "step_factor"), ({"every": 0}, "every")]:
        with pytest.raises(ValueError, match=word):
            CollapseGuard(**params)


def test_guard_state_survives_a_checkpoint(digits, digits_classifier, tmp_path):
    first = _run(digits, digits_classifier, Scripted([(0.5, 0.6), (0.1, 0.7)]), tmp_path=tmp_path, epochs=1)
    assert first.guard.step_scale == 0.5
    resumed = _run(digits, digits_classifier, Scripted([]), tmp_path=tmp_path, epochs=2, resume=True)
    assert resumed.guard.step_scale == 0.5 and len(resumed.guard.events) == 1
    assert resumed.guard.x is not None and len(resumed.guard.x) == resumed.guard.n_examples
