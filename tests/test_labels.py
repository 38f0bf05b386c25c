"""Label files: user formats and the committed ImageNet / WordNet files."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from zsclf.data.dataset import read_dataset
from zsclf.data.labels import imagenet1k, read_hypernyms, read_labels
from zsclf.errors import ZsclfError


def test_txt_with_bom_crlf_blank_and_duplicates(tmp_path):
    path = tmp_path / "l.txt"
    path.write_bytes("\ufeffcat\r\ndog\r\n\r\ncat\r\n  \r\nzebra".encode())
    labels = read_labels(path)
    assert labels.names == ["cat", "dog", "zebra"]
    assert (labels.dropped_blank, labels.dropped_duplicates) == (2, 1)


def test_tsv_columns_by_header(tmp_path):
    path = tmp_path / "l.tsv"
    path.write_text("wnid\tname\tgloss\tlemmas\n"
                    "n1\tcrane (bird)\ta tall bird\tcrane\nn2\tcrane (machine)\tlifts\tcrane\n")
    labels = read_labels(path)
    assert labels.ids == ["n1", "n2"] and labels.names[1] == "crane (machine)"
    assert labels.texts("gloss") == ["crane (bird): a tall bird", "crane (machine): lifts"]
    assert labels.texts("photo")[0] == "a photo of a crane (bird)"
    assert labels.texts("{name}!")[0] == "crane (bird)!"


def test_csv_with_quotes(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text('label,id\n"hot dog, frankfurter",x1\nbagel,x2\n')
    assert read_labels(path).names == ["hot dog, frankfurter", "bagel"]


@pytest.mark.parametrize("name,content,needle", [
    ("e.txt", "\n\n  \n", "empty label file"),
    ("e.tsv", "", "empty label file"),
    ("h.tsv", "foo\tbar\nx\ty\n", "no label column"),
    ("d.tsv", "id\tlabel\na\tx\na\ty\n", "appears on more than one"),
])
def test_bad_label_files_are_clear_errors(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ZsclfError, match=needle):
        read_labels(path)


def test_non_utf8_and_missing(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ZsclfError, match="not UTF-8"):
        read_labels(path)
    with pytest.raises(ZsclfError, match="cannot read label file: no such file"):
        read_labels(tmp_path / "missing.txt")


@pytest.mark.parametrize("template,needle", [
    ("bogus", "names no field"), ("{nme}", "unknown field {nme}"), ("{0}", "unknown field {0}"),
    ("a {name", "not a valid format string"), ("{name.upper}", "unknown field {name.upper}"),
])
def test_bad_templates_are_refused_naming_the_allowed_fields(tmp_path, template, needle):
    path = tmp_path / "l.txt"
    path.write_text("cat\n")
    with pytest.raises(ZsclfError, match=re.escape(needle)) as caught:
        read_labels(path).texts(template)
    assert "{name}, {lemmas}, {description}" in str(caught.value)
    assert read_labels(path).texts("{name} ({description})") == ["cat (cat)"]


def test_tsv_quotes_are_ordinary_characters(tmp_path):
    path = tmp_path / "l.tsv"
    path.write_text('id\tlabel\nn1\t"Weird Al\nn2\tbanana\nn3\t"quoted"\n')
    assert read_labels(path).names == ['"Weird Al', "banana", '"quoted"']


def test_any_line_ending_and_long_fields(tmp_path):
    path = tmp_path / "cr.txt"
    path.write_bytes(b"one\rtwo\rthree\r")
    assert read_labels(path).names == ["one", "two", "three"]
    long = "x" * 200_000
    for name, text in (("l.tsv", f"label\tgloss\nthing\t{long}\n"), ("l.csv", f'label,gloss\nthing,"{long}"\n')):
        (tmp_path / name).write_text(text)
        assert read_labels(tmp_path / name).descriptions == [long]


def test_manifest_problems_name_the_line(tmp_path):
    short = tmp_path / "m.tsv"
    short.write_text("path\tlabel\ta.jpg\tcat\nb.jpg\n".replace("\ta.jpg", "\na.jpg"))
    with pytest.raises(ZsclfError, match=r"m.tsv:3: expected at least 2 columns, got 1"):
        read_dataset(short)
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("path\tlabel\nb.jpg\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(ZsclfError, match="manifest is not UTF-8"):
        read_dataset(latin)
    broken = tmp_path / "q.csv"
    broken.write_text('path,label\na.jpg,"cat\n')
    with pytest.raises(ZsclfError, match=r"q.csv:\d+: cannot parse manifest"):
        read_dataset(broken)


def test_committed_imagenet_files():
    one_k = imagenet1k()
    assert len(one_k) == 1000 and one_k.ids == sorted(one_k.ids)
    assert one_k.ids[281] == "n02123045"  # tabby: logit 281
    twenty_one_k = read_labels(ROOT / "labels" / "imagenet21k.tsv")
    assert len(twenty_one_k) == 21841
    assert len(set(twenty_one_k.names)) == 21841, "display names must be unique"
    assert len(set(one_k.names)) == 1000
    cranes = {n for n in twenty_one_k.names if n.startswith("crane (")}
    assert "crane (wading bird)" in cranes and "crane (lifting device)" in cranes


def test_wordnet_hypernym_graph():
    graph = read_hypernyms()
    assert len(graph) == 82115
    assert graph["n00001740"] == []  # entity is the root
    assert graph["n02121620"] == ["n02120997"]  # cat -> feline, felid
    roots = [w for w, parents in graph.items() if not parents]
    assert roots == ["n00001740"]


def test_white_space_inside_labels_is_collapsed(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("foo\tbar\nfoo bar\nform\x0cfeed\n")
    labels = read_labels(path)
    assert labels.names == ["foo bar", "form feed"] and labels.dropped_duplicates == 1
