"""Your sentences in CSV, TSV or JSON-lines files (issue 26): loaded with their class names, split
with a seed, malformed files refused with one line, and run through the text CLI."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

from art_ext.data import DataError, load_text_table

WORDS = ("good great fine nice", "bad awful poor sad", "plain flat grey okay")


def _rows(n: int = 30) -> list[dict[str, str]]:
    names = ("positive", "negative", "neutral")
    return [{"sentence": f"a {WORDS[i % 3].split()[i % 4]} film number {i}", "sentiment": names[i % 3]} for i in range(n)]


def _write(path, rows, kind: str) -> None:
    if kind == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t" if kind == "tsv" else ",")
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
def test_one_file_is_split_with_its_class_names(tmp_path, kind):
    _write(tmp_path / f"reviews.{kind}", _rows(), kind)
    data = load_text_table(tmp_path / f"reviews.{kind}", seed=1)
    assert data.class_names == ["negative", "neutral", "positive"] and data.nb_classes == 3
    assert (len(data.train_texts), len(data.val_texts), len(data.test_texts)) == (24, 3, 3)
    assert sorted(np.bincount(data.y_test).tolist()) == [1, 1, 1]  # stratified
    everything = data.train_texts + data.val_texts + data.test_texts
    assert sorted(everything) == sorted(r["sentence"] for r in _rows())
    row = _rows()[0]
    where = everything.index(row["sentence"])
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert data.class_names[labels[where]] == row["sentiment"]
    assert load_text_table(tmp_path / f"reviews.{kind}", seed=1).test_texts == data.test_texts


def test_a_folder_of_train_and_test_files_with_index_labels(tmp_path):
    rows = [{"text": f"sentence {i}", "label": i % 2} for i in range(20)]
    _write(tmp_path / "train.jsonl", rows, "jsonl")
    _write(tmp_path / "test.jsonl", rows[:6], "jsonl")
    data = load_text_table(tmp_path)
    assert data.class_names == ["0", "1"] and len(data.test_texts) == 6
    assert len(data.train_texts) + len(data.val_texts) == 20 and len(data.val_texts) == 2


@pytest.mark.parametrize("content,message", [
    ("text,label\n", "no rows"),
    ("words,label\nhello,1\n", r"no text column among \['text', 'sentence', 'review', 'content'\]; the columns are \['words', 'label'\]"),
    ("text,stars\nhello,1\n", "no label column"),
    ("text,label\n,1\n", "row 1 has no text"),
    ("text,label\nhello,\n", "row 1 has label ''"),
])
def test_malformed_tables_are_one_line_naming_the_file(tmp_path, content, message):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(DataError, match=message) as caught:
        load_text_table(tmp_path / "d.csv")
    assert str(tmp_path / "d.csv") in str(caught.value)


def test_more_malformed_inputs(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 1}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        load_text_table(tmp_path / "d.jsonl")
    (tmp_path / "e.jsonl").write_text('{"text": "a", "label": 0.5}\n' * 12)
    with pytest.raises(DataError, match="row 1 has label 0.5"):
        load_text_table(tmp_path / "e.jsonl")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="expected a .csv, .tsv or .jsonl file"):
        load_text_table(tmp_path / "f.txt")
    with pytest.raises(DataError, match="no label column 'stars'"):
        _write(tmp_path / "g.csv", _rows(), "csv")
        load_text_table(tmp_path / "g.csv", label_column="stars")
    (tmp_path / "folder").mkdir()
    _write(tmp_path / "folder" / "train.csv", _rows(), "csv")
    with pytest.raises(DataError, match="expected train and test files"):
        load_text_table(tmp_path / "folder")


def test_a_three_class_csv_trains_and_is_attacked_through_the_text_cli(tmp_path, small_tokenizer):
    pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")
    from art_ext_plugins.text.cli import run_attack, run_train
    from text_helpers import tiny_bert

    _write(tmp_path / "reviews.csv", _rows(60), "csv")
    base = tmp_path / "base"
    tiny_bert(len(small_tokenizer), hidden=32, layers=1).bert.save_pretrained(base)
    small_tokenizer.save_pretrained(base)

    def args(**overrides):
        values = dict(name="text-standard", dataset="csv", data_dir=str(tmp_path / "reviews.csv"), model=str(base),
                      eps=None, norm=None, targeted=False, epochs=1, batch_size=16, n_train=None, n_test=None, seed=0,
                      out=str(tmp_path / "run"), device="cpu", params={"max_length": 16}, checkpoint_dir=None,
                      resume=False)
        values.update(overrides)
        return argparse.Namespace(**values)

    trained = run_train(args())
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert len(config["id2label"]) == 3 and trained["n_train"] == 48
    attacked = run_attack(args(name="text-wordswap", model=str(tmp_path / "run" / "model"), out=str(tmp_path / "a"),
                               epochs=None))
    assert attacked["n"] == 6 and 0.0 <= attacked["success_rate"] <= 1.0
    with pytest.raises(ValueError, match="--dataset tsv expects a .tsv file"):
        run_attack(args(name="text-wordswap", dataset="tsv", out=None, epochs=None))


# --------------------------------------------------------------------------- Hugging Face save_to_disk folders


def _hf_dict(folder, n_train: int = 30, n_test: int = 9, class_label: bool = True, validation: bool = False):
    datasets = pytest.importorskip("datasets", reason="save_to_disk folders need datasets (pip install art-ext[hf])")
    names = ["negative", "neutral", "positive"]
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names) if class_label else datasets.Value("string")})

    def part(n, offset):
        rows = _rows(n + offset)[offset:]
        labels = [names.index(r["sentiment"]) if class_label else r["sentiment"] for r in rows]
        return datasets.Dataset.from_dict({"sentence": [r["sentence"] for r in rows], "label": labels}, features=features)

    splits = {"train": part(n_train, 0), "test": part(n_test, n_train)}
    if validation:
        splits["validation"] = part(6, n_train + n_test)
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder


def test_a_save_to_disk_folder_keeps_its_splits_and_class_names(tmp_path):
    folder = _hf_dict(tmp_path / "reviews-hf", validation=True)
    data = load_text_table(folder)
    assert data.class_names == ["negative", "neutral", "positive"]
    assert (len(data.train_texts), len(data.val_texts), len(data.test_texts)) == (30, 6, 9)
    row = _rows(40)[30]  # the first test row
    assert data.test_texts[0] == row["sentence"] and data.class_names[data.y_test[0]] == row["sentiment"]
    no_validation = load_text_table(_hf_dict(tmp_path / "plain", class_label=False))
    assert len(no_validation.val_texts) == 3 and len(no_validation.train_texts) == 27  # a tenth of train
    assert no_validation.class_names == ["negative", "neutral", "positive"]  # string labels: sorted names


def test_a_single_saved_dataset_is_split_like_one_file(tmp_path):
    datasets = pytest.importorskip("datasets", reason="save_to_disk folders need datasets (pip install art-ext[hf])")
    rows = _rows(40)
    datasets.Dataset.from_dict({"text": [r["sentence"] for r in rows], "label": [r["sentiment"] for r in rows]}
                               ).save_to_disk(str(tmp_path / "one"))
    data = load_text_table(tmp_path / "one", seed=2)
    assert (len(data.train_texts), len(data.val_texts), len(data.test_texts)) == (32, 4, 4)


def test_malformed_save_to_disk_folders_are_one_line(tmp_path):
    datasets = pytest.importorskip("datasets", reason="save_to_disk folders need datasets (pip install art-ext[hf])")
    only_train = tmp_path / "only-train"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a b", "c d"], "label": [0, 1]})}
                         ).save_to_disk(str(only_train))
    with pytest.raises(DataError, match=r"needs train and test splits, it has \['train'\]"):
        load_text_table(only_train)
    wrong_column = tmp_path / "wrong-column"
    datasets.DatasetDict({s: datasets.Dataset.from_dict({"words": ["a b"], "label": [0]}) for s in ("train", "test")}
                         ).save_to_disk(str(wrong_column))
    with pytest.raises(DataError, match=r"train: no text column among .*the columns are \['words', 'label'\]"):
        load_text_table(wrong_column)
    unlabelled = tmp_path / "unlabelled"  # a GLUE-style test split: ClassLabel -1
    feature = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["n", "p"])})
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}, features=feature),
                          "test": datasets.Dataset.from_dict({"text": ["c"], "label": [-1]}, features=feature)}
                         ).save_to_disk(str(unlabelled))
    with pytest.raises(DataError, match="class indices >= 0"):
        load_text_table(unlabelled)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dataset_dict.json").write_text("{not json")
    with pytest.raises(DataError, match="broken: not a readable datasets folder"):
        load_text_table(broken)


def test_the_text_cli_reads_a_save_to_disk_folder(tmp_path, small_tokenizer):
    pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")
    from art_ext_plugins.text.cli import run_train
    from text_helpers import tiny_bert

    folder = _hf_dict(tmp_path / "hf", n_train=40, n_test=6)
    base = tmp_path / "base"
    tiny_bert(len(small_tokenizer), hidden=32, layers=1).bert.save_pretrained(base)
    small_tokenizer.save_pretrained(base)
    args = argparse.Namespace(name="text-standard", dataset="hf", data_dir=str(folder), model=str(base), eps=None,
                              norm=None, targeted=False, epochs=1, batch_size=16, n_train=None, n_test=None, seed=0,
                              out=str(tmp_path / "run"), device="cpu", params={"max_length": 16}, checkpoint_dir=None,
                              resume=False)
    trained = run_train(args)
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["negative", "neutral", "positive"] and trained["n_train"] == 36
    with pytest.raises(ValueError, match="--dataset hf expects a folder written by datasets' save_to_disk"):
        run_train(argparse.Namespace(**{**vars(args), "data_dir": str(tmp_path), "out": str(tmp_path / "r2")}))


def test_bench_text_runs_on_a_three_class_csv(tmp_path, small_tokenizer, capsys):
    pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")
    from text_helpers import tiny_bert

    from art_ext.cli.app import main

    _write(tmp_path / "reviews.csv", _rows(60), "csv")
    base = tmp_path / "base"
    tiny_bert(len(small_tokenizer), hidden=32, layers=1).bert.save_pretrained(base)
    small_tokenizer.save_pretrained(base)
    out = tmp_path / "bench"
    code = main(["bench", "text", "--dataset", "csv", "--data-dir", str(tmp_path / "reviews.csv"), "--model", str(base),
                 "--n-train", "48", "--n-test", "6", "--out", str(out), "--quiet",
                 "--param", "text:stages=('standard',)", "--param", "text:attacks=('hotflip',)",
                 "--param", "text:presets=('none',)", "--param", "text:max_length=16", "--param", "text:n_pgd=4"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    text = results["text"]
    assert text["split"].startswith("reviews.csv, stratified") and "standard.clean_acc" in text["summary"]
    stage = text["stages"]["standard"]
    assert stage["n_train"] == 48 and stage["clean"]["n"] == 6  # the 3-class file's test split
    assert 0.0 <= text["summary"]["standard.hotflip.none.success"] <= 1.0
    assert "art-ext text attacks on reviews" in (out / "text_report.md").read_text()
