"""An AdvGAN file is data (issue 22): its metadata decides nothing before every field has its type and
range and the architecture it names matches the tensors stored beside it; every tampering is one
``ValueError`` naming the path, fast (no generator of the file's choosing is built)."""

from __future__ import annotations

import time

import pytest
from art_ext_plugins.gan.advgan import AdvGAN
from safetensors import safe_open
from safetensors.torch import load_file, save_file


@pytest.fixture(scope="module")
def saved(tmp_path_factory, untargeted_advgan):
    path = untargeted_advgan.save(tmp_path_factory.mktemp("advgan") / "g.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        meta = dict(handle.metadata())
    return load_file(str(path)), meta


@pytest.mark.parametrize("key, value", [
    ("generator", '{"custom": false, "width": 8, "n_residual": 300000}'),
    ("generator", '{"custom": false, "width": 200000, "n_residual": 4}'),
    ("generator", '{"custom": false, "width": 16, "n_residual": 4}'),
    ("generator", '{"custom": false, "width": 8, "n_residual": 3}'),
    ("generator", '{"custom": "no"}'),
    ("generator", '[1, 2]'),
    ("input_shape", "5"),
    ("input_shape", '[1, 8, "8"]'),
    ("nb_classes", "ten"),
    ("nb_classes", "1"),
    ("eps", "-0.3"),
    ("eps", "nan"),
    ("norm", "l3"),
    ("targeted", '"yes"'),
    ("mode", "white-box"),
    ("clip_values", "[1, 0]"),
])
def test_tampered_metadata_is_one_error_naming_the_path(tmp_path, saved, digits_classifier, key, value):
    state, meta = saved
    path = tmp_path / "tampered.safetensors"
    save_file(state, str(path), metadata={**meta, key: value})
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"tampered\.safetensors") as error:
        AdvGAN.load(path, digits_classifier)
    assert time.perf_counter() - start < 10  # nothing of the file's size was built
    assert "\n" not in str(error.value)


def test_untampered_file_still_loads(tmp_path, saved, digits_classifier):
    state, meta = saved
    path = tmp_path / "same.safetensors"
    save_file(state, str(path), metadata=meta)
    assert AdvGAN.load(path, digits_classifier).fitted


def test_save_onto_a_folder_is_refused_and_nothing_is_half_written(tmp_path, untargeted_advgan):
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        untargeted_advgan.save(tmp_path)
    path = untargeted_advgan.save(tmp_path / "g.safetensors")
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]
