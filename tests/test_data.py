import gzip
import struct

import numpy as np
import pytest

from art_ext.data import DataError, load_digits, load_image_dataset, load_mnist, load_mr


def test_digits_split_is_fixed_and_stratified():
    first, second = load_digits(), load_digits()
    assert first.x_train.shape == (1437, 1, 8, 8) and first.x_test.shape == (360, 1, 8, 8)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    assert first.x_train.min() >= 0 and first.x_train.max() <= 1
    assert np.bincount(first.y_test).min() >= 35  # every class represented
    assert not np.array_equal(load_digits(seed=1).y_test, first.y_test)


def _write_idx(path, array, magic):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist_from_synthetic_idx(tmp_path):
    images = np.arange(20 * 28 * 28).reshape(20, 28, 28) % 256
    labels = np.arange(20) % 10
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 0x0803)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, 0x0801)
    data = load_mnist(tmp_path, n_train=15, n_test=5)
    assert data.x_train.shape == (15, 1, 28, 28) and data.x_test.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(data.y_test, labels[15:])  # positional: last n_test
    assert data.x_train.max() <= 1.0


def test_mnist_missing_and_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*not found"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*magic"):
        load_mnist(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        load_mnist(tmp_path / "nope")


def test_mnist_truncated_file(tmp_path):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)), 0x0803)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz") as handle:
        raw = handle.read()
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(raw[:-10])
    with pytest.raises(DataError, match="header says"):
        load_mnist(tmp_path)


def test_real_mnist(mnist_dir):
    data = load_mnist(mnist_dir, full=False)
    assert data.x_train.shape == (8000, 1, 28, 28) and data.x_test.shape == (2000, 1, 28, 28)
    assert set(np.unique(data.y_test)) == set(range(10))


def test_real_mr_split(mr_dir):
    data = load_mr(mr_dir)
    assert (len(data.train_texts), len(data.val_texts), len(data.test_texts)) == (8530, 1066, 1066)
    assert abs(data.y_test.mean() - 0.5) < 0.01
    assert load_mr(mr_dir).test_texts == data.test_texts


def test_mr_missing_file(tmp_path):
    (tmp_path / "rt-polarity.pos").write_text("good\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"rt-polarity\.neg.*not found"):
        load_mr(tmp_path)


def test_mr_reads_latin1_with_nel_bytes(tmp_path):
    (tmp_path / "rt-polarity.pos").write_bytes(b"caf\xe9 is good\nna\x85ve but fine\n" * 10)
    (tmp_path / "rt-polarity.neg").write_bytes(b"bad\n" * 20)
    data = load_mr(tmp_path, sizes=(4, 4))
    texts = data.train_texts + data.val_texts + data.test_texts
    assert len(texts) == 40 and "café is good" in texts and "na\x85ve but fine" in texts


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown image dataset 'cifar'"):
        load_image_dataset("cifar")


def test_mr_splits_are_in_a_mixed_seeded_order(tmp_path):
    """Regression: the splits came sorted by class (the files list all positives first), so
    ``train_texts[:n]`` was a single class."""
    (tmp_path / "rt-polarity.pos").write_text("\n".join(f"good film {i}" for i in range(300)), encoding="latin-1")
    (tmp_path / "rt-polarity.neg").write_text("\n".join(f"bad film {i}" for i in range(300)), encoding="latin-1")
    data = load_mr(tmp_path, sizes=(60, 60))
    for labels in (data.y_train[:100], data.y_val[:30], data.y_test[:30]):
        assert 0.2 < labels.mean() < 0.8, labels
    assert all(("good" in t) == bool(y) for t, y in zip(data.train_texts, data.y_train))
    assert load_mr(tmp_path, sizes=(60, 60)).train_texts == data.train_texts
    assert load_mr(tmp_path, seed=1, sizes=(60, 60)).train_texts != data.train_texts


def test_mnist_corrupt_gzip_stream_is_a_data_error(tmp_path):
    import gzip

    raw = gzip.compress(b"\x00" * 4000)
    broken = raw[:20] + bytes(b ^ 0xFF for b in raw[20:60]) + raw[60:]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(broken)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(broken)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: cannot read"):
        load_mnist(tmp_path)
