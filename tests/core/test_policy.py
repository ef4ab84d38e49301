"""Device, precision and thread policy. No GPU here: the CUDA branches are checked with
dry_run=True (the policy decides without touching CUDA); the CPU paths run for real."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from art_ext.core import device as device_policy
from art_ext.core.device import default_threads, hardware_info, resolve_policy
from art_ext.models import SmallCNN

NATIVE_BF16 = device_policy.cpu_bf16_native()


@pytest.fixture
def cnn():
    return SmallCNN((1, 8, 8), 10)


def test_auto_is_native_bf16_and_channels_last_for_conv_nets_on_this_cpu(cnn):
    policy = resolve_policy(cnn)
    assert policy.device == torch.device("cpu")
    assert policy.precision == ("bf16" if NATIVE_BF16 else "fp32")
    assert policy.channels_last  # oneDNN's fast layout for conv nets on CPUs
    assert not policy.pin_memory and not policy.non_blocking and not policy.use_grad_scaler
    mlp = resolve_policy(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
    assert not mlp.channels_last


def test_auto_falls_back_to_fp32_without_native_bf16(cnn, monkeypatch):
    monkeypatch.setattr(device_policy, "cpu_bf16_native", lambda: False)
    assert resolve_policy(cnn).precision == "fp32"
    with pytest.raises(ValueError, match="no native bf16"):
        resolve_policy(cnn, precision="bf16")  # asked for explicitly: an error, never a silent fallback


def test_fp32_is_one_argument_away(cnn):
    policy = resolve_policy(cnn, precision="fp32")
    assert policy.precision == "fp32" and policy.autocast_dtype is None
    with policy.autocast():
        assert cnn(torch.rand(2, 1, 8, 8)).dtype == torch.float32


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")
def test_bf16_autocast_on_cpu(cnn):
    policy = resolve_policy(cnn, precision="bf16")
    assert policy.autocast_dtype == torch.bfloat16 and not policy.use_grad_scaler
    with policy.autocast():
        assert cnn(torch.rand(2, 1, 8, 8)).dtype == torch.bfloat16


def test_fp16_needs_cuda(cnn):
    with pytest.raises(ValueError, match="fp16.*needs CUDA"):
        resolve_policy(cnn, precision="fp16")


def test_cuda_dispatch_dry_run(cnn):
    fp16 = resolve_policy(cnn, device="cuda", precision="fp16", dry_run=True)
    assert fp16.device.type == "cuda" and fp16.use_grad_scaler and fp16.autocast_dtype == torch.float16
    assert fp16.channels_last and fp16.pin_memory and fp16.non_blocking
    auto = resolve_policy(cnn, device="cuda:1", dry_run=True)
    assert auto.device == torch.device("cuda", 1) and auto.precision == "bf16" and not auto.use_grad_scaler
    forced_off = resolve_policy(cnn, device="cuda", channels_last=False, dry_run=True)
    assert not forced_off.channels_last


def test_errors(cnn):
    with pytest.raises(ValueError, match="precision"):
        resolve_policy(cnn, precision="fp8")
    with pytest.raises(ValueError, match="device"):
        resolve_policy(cnn, device="tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_policy(cnn, device="cuda")


def test_to_device_moves_nested_batches(cnn):
    policy = resolve_policy(cnn, channels_last=True)
    batch = (torch.rand(2, 1, 8, 8), torch.tensor([1, 2]), {"ids": torch.ones(2, 3)})
    x, y, d = policy.to_device(batch)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert y.dtype == torch.long and d["ids"].shape == (2, 3)


def test_thread_rule(monkeypatch):
    monkeypatch.delenv("ART_EXT_THREADS", raising=False)
    assert default_threads(small_model=True) == 1
    assert 1 <= default_threads() <= (torch.get_num_threads() + 64)
    monkeypatch.setenv("ART_EXT_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("ART_EXT_THREADS", "zero")
    with pytest.raises(ValueError, match="ART_EXT_THREADS"):
        default_threads()


def test_hardware_info_records_the_policy_inputs():
    info = hardware_info()
    assert {"cpu_capability", "cpu_bf16_flags", "cpu_bf16_native", "torch_threads", "torch"} <= set(info)
    assert isinstance(info["torch"], str) and type(info["torch"]) is str


def test_trainer_resolves_auto_and_evaluates_in_fp32(digits, fresh_classifier):
    """Training runs under the policy; the per-epoch evaluation never does (float32, no autocast)."""
    import art_ext

    clf = fresh_classifier()
    seen: list[tuple[str, torch.dtype, bool]] = []
    phase = {"now": "train"}
    hook = clf.model.features[0].register_forward_pre_hook(
        lambda m, args: seen.append((phase["now"], args[0].dtype, torch.is_autocast_enabled("cpu"))))

    class Marked(type(art_ext.get_trainer("pgd", clf, eps=0.1))):  # type: ignore[misc]
        def evaluate(self, source):
            phase["now"] = "eval"
            try:
                return super().evaluate(source)
            finally:
                phase["now"] = "train"

    trainer = Marked(clf, eps=0.1, max_iter=2, nb_epochs=1, batch_size=64, verbose=False, eval_max_iter=2,
                     eval_restarts=1)
    trainer.fit(digits.x_train[:128], digits.y_train[:128], validation_data=(digits.x_test[:32], digits.y_test[:32]))
    hook.remove()
    assert trainer.policy.precision == ("bf16" if NATIVE_BF16 else "fp32")
    assert any(p == "train" and autocast == NATIVE_BF16 for p, _, autocast in seen)
    evals = [(dtype, autocast) for p, dtype, autocast in seen if p == "eval"]
    assert evals and all(dtype == torch.float32 and not autocast for dtype, autocast in evals)
    assert clf.model.features[0].weight.is_contiguous()  # handed back in the default layout


def test_small_steps_survive_bf16(digits, digits_classifier):
    """PGD steps far below bf16's resolution near 1.0 still move the input: only the network
    runs in bf16; the perturbation and the clip stay float32."""
    from art_ext.core import perturb

    model = digits_classifier.model.eval()
    x = torch.from_numpy(digits.x_test[:16]).clamp(0.25, 0.75)  # away from the clip bounds
    y = torch.from_numpy(digits.y_test[:16])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=NATIVE_BF16):
        x_adv = perturb.pgd(model, x, y, eps=1e-3, step=1e-4, steps=3, random_start=False, clip_values=(0.0, 1.0))
    assert x_adv.dtype == torch.float32
    moved = (x_adv - x).abs()
    assert float(moved.max()) == pytest.approx(3e-4, rel=1e-3)  # bf16 near 0.5 resolves only ~2e-3


def test_fused_optimizer_rule_and_its_agreement_with_the_unfused_adamw():
    """The fused kernel where every parameter allows it; it computes AdamW's update (float32
    rounding apart), so a trainer that switches to it trains the same model."""
    from art_ext.core.device import fused_optimizer

    assert fused_optimizer(nn.Linear(3, 2).parameters()) is True
    assert fused_optimizer([torch.zeros(2, dtype=torch.int64)]) is None
    assert fused_optimizer([torch.zeros(2, device="meta")]) is None
    assert fused_optimizer([]) is None
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [torch.optim.AdamW(nets[0].parameters(), lr=1e-2, weight_decay=0.01),
            torch.optim.AdamW(nets[1].parameters(), lr=1e-2, weight_decay=0.01,
                              fused=fused_optimizer(nets[1].parameters()))]
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for _ in range(20):
        for net, opt in zip(nets, opts):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert not torch.equal(nets[0][0].weight, nn.Linear(5, 7).weight)  # it trained
