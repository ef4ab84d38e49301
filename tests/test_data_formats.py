"""The image formats researchers bring (issue 26): full MNIST, CIFAR-10/100 pickles, .npz and image
folders, each from small files generated here, and every malformed-file case refused with one line
naming the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from data_writers import RNG, write_cifar10, write_cifar100, write_folder, write_idx

from art_ext.data import DataError, load_data_pickle, load_image_dataset, load_mnist, load_npz

# --------------------------------------------------------------------------- MNIST


def test_full_mnist_uses_the_official_split_and_says_so(tmp_path):
    for stem, n in (("train", 30), ("t10k", 12)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", RNG.integers(0, 256, (n, 28, 28)), 0x0803)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10, 0x0801)
    data = load_mnist(tmp_path)
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (12, 1, 28, 28)
    assert "official split: 30 train / 12 test" in data.split
    positional = load_mnist(tmp_path, n_train=8, n_test=4, full=False)  # what the benchmarks record
    assert len(positional.x_train) == 8 and "t10k only, positional" in positional.split
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    assert "no train-* files found" in load_mnist(tmp_path, n_train=8, n_test=4).split
    with pytest.raises(DataError, match="full=True needs train-images-idx3-ubyte"):
        load_mnist(tmp_path, full=True)


# --------------------------------------------------------------------------- CIFAR


@pytest.mark.smoke
def test_cifar10_from_the_official_layout(tmp_path):
    root = write_cifar10(tmp_path)
    data = load_image_dataset("cifar10", tmp_path)  # the parent folder or the batches folder itself
    again = load_image_dataset("cifar10", root)
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_test.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    first = pickle.loads((root / "data_batch_1").read_bytes())
    np.testing.assert_allclose(data.x_train[0], first[b"data"][0].reshape(3, 32, 32) / 255.0, rtol=1e-6)
    assert data.y_train[:6].tolist() == first[b"labels"] and data.nb_classes == 10
    assert data.class_names[:3] == ["airplane", "automobile", "bird"] and data.x_train.dtype == np.float32
    assert data.normalisation == ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616))


def test_cifar100_reads_the_fine_labels(tmp_path):
    root = write_cifar100(tmp_path)
    data = load_image_dataset("cifar100", tmp_path)
    assert data.nb_classes == 100 and data.class_names[5] == "c5"
    assert data.y_test.tolist() == pickle.loads((root / "test").read_bytes())[b"fine_labels"]


@pytest.mark.smoke
def test_a_pickle_that_names_code_is_refused_without_running_it(tmp_path):
    root = write_cifar10(tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (root / "data_batch_3").write_bytes(pickle.dumps({b"data": Payload(), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3: the pickle names posix\.system.*refused without running it"):
        load_image_dataset("cifar10", tmp_path)
    assert not marker.exists()
    (root / "data_batch_3").write_bytes(pickle.dumps({b"data": Path("x")}, protocol=2))
    with pytest.raises(DataError, match="names pathlib"):
        load_data_pickle(root / "data_batch_3")


@pytest.mark.parametrize("batch,message", [
    ([1, 2, 3], "expected a CIFAR batch"),
    ({b"labels": [0]}, "holds b'data' and b'labels'"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "uint8 rows of 3,072"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels must be in 0-9, found 0-10"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"one class index per image \(2\)"),
])
def test_malformed_cifar_batches_are_one_line_naming_the_file(tmp_path, batch, message):
    root = write_cifar10(tmp_path)
    (root / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=message) as caught:
        load_image_dataset("cifar10", tmp_path)
    assert str(root / "test_batch") in str(caught.value) and "\n" not in str(caught.value)


def test_missing_cifar_files_and_a_non_pickle(tmp_path):
    root = write_cifar10(tmp_path)
    (root / "data_batch_5").unlink()
    with pytest.raises(DataError, match="missing data_batch_5"):
        load_image_dataset("cifar10", tmp_path)
    (root / "data_batch_5").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="data_batch_5: not a readable data pickle"):
        load_image_dataset("cifar10", tmp_path)


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NHW"])
def test_npz_layouts_are_detected_and_said(tmp_path, layout):
    images = RNG.integers(0, 256, (10, 3, 16, 16), dtype=np.uint8)
    stored = {"NCHW": images, "NHWC": images.transpose(0, 2, 3, 1), "NHW": images[:, 0]}[layout]
    np.savez(tmp_path / "d.npz", x_train=stored[:7], y_train=np.arange(7) % 4, x_test=stored[7:], y_test=np.arange(3))
    data = load_npz(tmp_path / "d.npz")
    expected = images if layout != "NHW" else images[:, :1]
    np.testing.assert_allclose(data.x_train, expected[:7] / 255.0, rtol=1e-6)
    assert f"stored {layout}" in data.split and data.nb_classes == 4
    assert load_image_dataset("npz", tmp_path).x_test.shape == data.x_test.shape  # a folder holding one .npz


def test_npz_float_images_must_be_in_unit_range(tmp_path):
    x = RNG.random((4, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "ok.npz", x_train=x, y_train=[0, 1, 0, 1], x_test=x, y_test=[1, 0, 1, 0],
             class_names=np.array(["no", "yes"]))
    data = load_npz(tmp_path / "ok.npz")
    assert data.class_names == ["no", "yes"] and np.array_equal(data.x_train, x)
    np.savez(tmp_path / "bad.npz", x_train=x * 255, y_train=[0, 1, 0, 1], x_test=x, y_test=[1, 0, 1, 0])
    with pytest.raises(DataError, match=r"bad.npz: x_train: float images must lie in \[0, 1\], found"):
        load_npz(tmp_path / "bad.npz")


@pytest.mark.parametrize("arrays,message", [
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "y_train": [0] * 4, "x_test": np.zeros((2, 8, 8), np.uint8)},
     "missing y_test"),
    ({"x_train": np.zeros((4, 3, 8, 3), np.uint8), "y_train": [0] * 4, "x_test": np.zeros((2, 3, 8, 3), np.uint8),
      "y_test": [0, 0]}, "could be NCHW or NHWC"),
    ({"x_train": np.zeros((4, 5, 8, 8), np.uint8), "y_train": [0] * 4, "x_test": np.zeros((2, 5, 8, 8), np.uint8),
      "y_test": [0, 0]}, "no channel axis of 1 or 3"),
    ({"x_train": np.zeros((4, 1, 8, 8), np.int32), "y_train": [0] * 4, "x_test": np.zeros((2, 1, 8, 8), np.int32),
      "y_test": [0, 0]}, "uint8 .0-255. or float in .0, 1., got dtype int32"),
    ({"x_train": np.zeros((4, 1, 8, 8), np.uint8), "y_train": [0] * 3, "x_test": np.zeros((2, 1, 8, 8), np.uint8),
      "y_test": [0, 0]}, r"y_train: labels must be one class index per image \(4\)"),
    ({"x_train": np.zeros((4, 1, 8, 8), np.uint8), "y_train": [0, -1, 0, 0], "x_test": np.zeros((2, 1, 8, 8), np.uint8),
      "y_test": [0, 0]}, "labels must be in >= 0"),
    ({"x_train": np.zeros((4, 1, 8, 8), np.uint8), "y_train": [0.5] * 4, "x_test": np.zeros((2, 1, 8, 8), np.uint8),
      "y_test": [0, 0]}, "labels must be integers"),
    ({"x_train": np.zeros((4, 1, 8, 8), np.uint8), "y_train": [0] * 4, "x_test": np.zeros((2, 1, 9, 9), np.uint8),
      "y_test": [0, 0]}, "x_train images are .1, 8, 8. but x_test images .1, 9, 9."),
])
def test_malformed_npz_files_are_one_line_naming_the_file(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message) as caught:
        load_npz(tmp_path / "d.npz")
    assert str(tmp_path / "d.npz") in str(caught.value)


def test_an_npz_holding_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=[0], x_test=np.zeros((1, 8, 8)),
             y_test=[0])
    with pytest.raises(DataError, match="not a readable .npz without pickled objects"):
        load_npz(tmp_path / "d.npz")


# --------------------------------------------------------------------------- image folders


def test_an_image_folder_with_a_seeded_split(tmp_path):
    root = write_folder(tmp_path / "pets")
    data = load_image_dataset("folder", root, seed=1)
    assert data.class_names == ["cat", "dog", "eel"] and data.nb_classes == 3
    assert data.x_train.shape[1:] == (3, 10, 12) and len(data.x_train) + len(data.x_test) == 15
    assert sorted(np.bincount(data.y_test).tolist()) == [1, 1, 1]  # stratified
    assert np.array_equal(load_image_dataset("folder", root, seed=1).y_test, data.y_test)


def test_an_image_folder_with_train_and_test_and_greyscale(tmp_path):
    write_folder(tmp_path / "d" / "train", ("a", "b"), mode="L")
    write_folder(tmp_path / "d" / "test", ("b",), per_class=2, mode="L")
    data = load_image_dataset("folder", tmp_path / "d")
    assert data.x_train.shape == (10, 1, 10, 12) and data.y_test.tolist() == [1, 1]
    assert "as stored: 10 train / 2 test" in data.split


def test_malformed_image_folders(tmp_path):
    root = write_folder(tmp_path / "mixed", ("a", "b"), per_class=2)
    write_folder(tmp_path / "other", ("a",), per_class=1, size=(7, 7))
    (tmp_path / "other" / "a" / "0.png").rename(root / "b" / "9.png")
    with pytest.raises(DataError, match=r"9.png: 7x7 pixels, but .*0.png is 12x10"):
        load_image_dataset("folder", root)
    (root / "b" / "9.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="9.png: not a readable image"):
        load_image_dataset("folder", root)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_image_dataset("folder", tmp_path / "empty")
    with pytest.raises(DataError, match="no class sub-folders"):
        load_image_dataset("folder", tmp_path / "empty" / "a")


def test_the_search_order_and_unknown_names(tmp_path, monkeypatch):
    monkeypatch.setenv("ART_EXT_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"dataset 'cifar10' needs its files .*looked in .*cifar10"):
        load_image_dataset("cifar10")
    write_cifar10(tmp_path / "cifar10")
    assert load_image_dataset("cifar10").x_train.shape == (30, 3, 32, 32)  # $ART_EXT_DATA/cifar10/
    with pytest.raises(ValueError, match="unknown image dataset 'svhn'"):
        load_image_dataset("svhn")


def test_eps_takes_fractions_on_every_command_line():
    from art_ext.checks import number_text
    from art_ext.cli.app import build_parser, parse_param

    assert number_text("8/255", "eps") == pytest.approx(8 / 255) and number_text("0.3", "eps") == 0.3
    assert parse_param("eps=8/255") == ("eps", pytest.approx(8 / 255))
    assert parse_param("tag=a/b") == ("tag", "a/b")  # text with a slash stays text
    for bad in ("8/0", "eight", "inf", "nan"):
        with pytest.raises(ValueError, match="eps must be"):
            number_text(bad, "eps")
    args = build_parser().parse_args(["train", "--trainer", "pgd", "--eps", "8/255"])
    assert args.eps == pytest.approx(8 / 255)


# --------------------------------------------------------------------------- end to end through the CLI


def _generated(kind: str, tmp_path: Path) -> Path:
    if kind == "cifar10":
        write_cifar10(tmp_path / "cifar", per_batch=8)
        return tmp_path / "cifar"
    if kind == "npz":
        x = RNG.integers(0, 256, (48, 16, 16, 3), dtype=np.uint8)  # NHWC, as numpy users store it
        np.savez(tmp_path / "mine.npz", x_train=x[:40], y_train=np.arange(40) % 4, x_test=x[40:], y_test=np.arange(8) % 4)
        return tmp_path / "mine.npz"
    return write_folder(tmp_path / "pets", per_class=8, size=(12, 12))


@pytest.mark.slow
@pytest.mark.parametrize("kind,model", [("cifar10", "cifar_cnn"), ("npz", "preact_resnet18"), ("folder", None)])
def test_each_format_runs_through_train_attack_and_bench(tmp_path, monkeypatch, capsys, kind, model):
    import json

    from art_ext.cli.app import main

    monkeypatch.setenv("ART_EXT_CACHE", str(tmp_path / "cache"))
    data = _generated(kind, tmp_path)
    run = tmp_path / "run"
    common = ["--dataset", kind, "--data-dir", str(data), "--eps", "8/255", "--json"]
    train = ["train", "--trainer", "pgd", "--epochs", "1", "--out", str(run), *common, "--param", "eval_autoattack=none",
             "--param", "eval_steps=2", "--param", "eval_restarts=1", *(["--model", model] if model else ["--init", "random"])]
    assert main(train) == 0, capsys.readouterr().err
    trained = json.loads((run / "results.json").read_text())
    assert trained["dataset"] == kind and trained["eps"] == pytest.approx(8 / 255)
    assert trained["ran"]["model"].startswith(f"{model or 'SmallCNN'} from random initialisation")
    capsys.readouterr()
    assert main(["attack", "art.fgsm", "--model", str(run / "model.pt"), "--out", str(tmp_path / "a"), *common]) == 0
    attacked = json.loads(capsys.readouterr().out)
    network = {"cifar_cnn": "CifarCNN", "preact_resnet18": "PreActResNet18", None: "SmallCNN"}[model]
    assert attacked["ran"]["model"].startswith(f"{network} weights from")
    assert main(["bench", "--attacks", "art.fgsm", "--model", str(run / "model.pt"), "--no-checks", "--quiet",
                 "--out", str(tmp_path / "b"), "--dataset", kind, "--data-dir", str(data)]) == 0
    benched = json.loads((tmp_path / "b" / "results.json").read_text())
    assert benched["model"]["zoo"] == (model or "smallcnn") and benched["attacks"]
    assert all(r["eps"] <= 16 / 255 + 1e-9 for r in benched["attacks"])  # the colour-image grid
