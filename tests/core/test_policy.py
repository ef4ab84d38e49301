"""Device and precision dispatch. No GPU here: the CUDA branches are checked with dry_run=True
(the policy decides without touching CUDA); the CPU paths run for real."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from art_ext.core.device import resolve_policy
from art_ext.models import SmallCNN


@pytest.fixture
def cnn():
    return SmallCNN((1, 8, 8), 10)


def test_cpu_defaults(cnn):
    policy = resolve_policy(cnn)
    assert policy.device == torch.device("cpu")
    assert policy.precision == "fp32" and policy.autocast_dtype is None
    assert not policy.channels_last and not policy.pin_memory and not policy.non_blocking
    assert not policy.use_grad_scaler
    assert not policy.make_grad_scaler().is_enabled()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cpu_falls_back_to_fp32(cnn, precision, caplog):
    policy = resolve_policy(cnn, precision=precision)
    assert policy.precision == "fp32"
    assert "CUDA" in caplog.text


def test_cpu_bf16_when_forced(cnn):
    policy = resolve_policy(cnn, precision="bf16", allow_cpu_bf16=True)
    assert policy.autocast_dtype == torch.bfloat16 and not policy.use_grad_scaler
    with policy.autocast():
        out = cnn(torch.rand(2, 1, 8, 8))
    assert out.dtype == torch.bfloat16


def test_cuda_dispatch_dry_run(cnn):
    fp16 = resolve_policy(cnn, device="cuda", precision="fp16", dry_run=True)
    assert fp16.device.type == "cuda" and fp16.use_grad_scaler and fp16.autocast_dtype == torch.float16
    assert fp16.channels_last and fp16.pin_memory and fp16.non_blocking
    bf16 = resolve_policy(cnn, device="cuda:1", precision="bf16", dry_run=True)
    assert bf16.device == torch.device("cuda", 1) and not bf16.use_grad_scaler
    mlp = resolve_policy(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), device="cuda", dry_run=True)
    assert not mlp.channels_last  # only conv nets
    forced_off = resolve_policy(cnn, device="cuda", channels_last=False, dry_run=True)
    assert not forced_off.channels_last


def test_follows_the_model_device(cnn):
    # a model on the meta device stands in for "a model somewhere else than the default"
    meta = SmallCNN((1, 8, 8), 10).to("meta")
    assert resolve_policy(meta).device.type == "meta"


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


def test_trainer_uses_policy(digits, fresh_classifier):
    import art_ext

    trainer = art_ext.get_trainer("pgd", fresh_classifier(), eps=0.2, precision="fp16", verbose=False)
    trainer.setup()
    assert trainer.policy.device.type == "cpu" and trainer.policy.precision == "fp32"
    assert not trainer.scaler.is_enabled()
