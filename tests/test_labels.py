"""Label files: user formats and the committed ImageNet / WordNet files."""

from __future__ import annotations

import pytest

from conftest import ROOT
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


def test_unknown_template(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("cat\n")
    with pytest.raises(ZsclfError, match="unknown label template"):
        read_labels(path).texts("bogus")


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
