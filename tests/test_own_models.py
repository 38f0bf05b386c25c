"""Bring your own model (issue 20), through the real CLI: small random-initialised models of each new kind
(tools/make_test_models.py: a timm CNN with 21,841 classes, OpenCLIP pairs with a ResNet and a ViT image tower)
are imported with `zsclf setup --import` into a home of their own and used by every command. Weights are random,
so what is checked is the plumbing: every command runs, refusals are one line, and the scores are exactly the
maths of each kind (a joint pair: cosine of the towers' embeddings; a 21K CNN: ConSE over its own classes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import DEFAULT_INDEX, IMAGES, ROOT, SHARED, run_cli
from zsclf.models.registry import load_manifest

CNN, RN, VIT = "test-convnext-atto-21k", "test-clip-rn", "test-clip-vit"
PHOTOS = [p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg")]
LABELS = "tabby cat, espresso, space rocket, daisy, academic gown"


def env_for(home: Path) -> dict[str, str]:
    return {"ZSCLF_HOME": str(home), "ZSCLF_MODELS": "", "ZSCLF_INDEX": "", "ZSCLF_LABELS": "",
            "ZSCLF_COLLECTION": str(home / "photos.db")}


@pytest.fixture(scope="module")
def home(tmp_path_factory, test_models_dir, default_index) -> Path:
    """A home with the checkout's models (linked), the default index (linked) and the three test models imported."""
    home = tmp_path_factory.mktemp("byom") / "home"
    (home / "models").mkdir(parents=True)
    (home / "indexes").mkdir()
    for path in (ROOT / "models").iterdir():
        if path.is_file() and path.name != "manifest.json":
            (home / "models" / path.name).symlink_to(path.resolve())
    shutil.copy(ROOT / "models" / "manifest.json", home / "models" / "manifest.json")
    (home / "indexes" / "imagenet21k").symlink_to(DEFAULT_INDEX.resolve())
    for sub in ("timm-21k", "clip-rn", "clip-vit"):
        done = run_cli("setup", "--import", str(test_models_dir / sub), env=env_for(home), expect=0)
        assert "imported" in done.stderr
    return home


def cli(home: Path, *args: str, expect: int | None = 0, stdin: str | None = None):
    return run_cli(*args, env=env_for(home), expect=expect, stdin=stdin)


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def onnx_run(home: Path, name: str, feeds: dict) -> np.ndarray:
    import onnxruntime as ort

    manifest = json.loads((home / "models" / "manifest.json").read_text())
    session = ort.InferenceSession(str(home / "models" / manifest["models"][name]["file"]),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_info_lists_the_imported_models_by_kind(home):
    info = json.loads(cli(home, "info", "--json").stdout)
    models = info["models"]
    assert models[RN]["kind"] == "image (joint pair)" and models[RN]["pair"] == f"{RN}-text"
    assert models[f"{VIT}-text"]["kind"] == "text"
    assert models[CNN]["classes"] == "21841 (imagenet21k)"


def test_importing_the_same_folder_again_changes_nothing(home, test_models_dir):
    before = (home / "models" / "manifest.json").read_bytes()
    cli(home, "setup", "--import", str(test_models_dir / "clip-rn"))
    assert (home / "models" / "manifest.json").read_bytes() == before


def _broken_copy(src: Path, dst: Path, change) -> Path:
    shutil.copytree(src, dst)
    card = json.loads((dst / "zsclf-model.json").read_text())
    change(card)
    (dst / "zsclf-model.json").write_text(json.dumps(card))
    return dst


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"][RN].update(sha256="0" * 64), "sha256 differs from the card's"),
    (lambda c: [c["models"][m]["outputs"].update(embedding=[None, 999]) for m in (RN, f"{RN}-text")],
     "the card gives output embedding [None, 999]"),
    (lambda c: c["models"][RN]["outputs"].update(embedding=[None, 999]), "its embedding has 999 dimensions"),
    (lambda c: c["models"][RN].update(text_model="nowhere"), "needs 'text_model'"),
    (lambda c: c["models"][RN]["input"].update(size=160),
     "the card wants input image tensor(uint8) [None, 160, 160, 3]"),
])
def test_a_card_that_does_not_match_its_files_is_refused_and_nothing_is_installed(home, test_models_dir, tmp_path,
                                                                                  change, message):
    folder = _broken_copy(test_models_dir / "clip-rn", tmp_path / "bad", change)
    before = sorted(p.name for p in (home / "models").iterdir())
    manifest = (home / "models" / "manifest.json").read_bytes()
    done = cli(home, "setup", "--import", str(folder), expect=2)
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (home / "models").iterdir()) == before
    assert (home / "models" / "manifest.json").read_bytes() == manifest


def test_a_model_name_installed_with_other_weights_is_refused(home, test_models_dir, tmp_path):
    folder = _broken_copy(test_models_dir / "clip-vit", tmp_path / "clash", lambda c: None)
    card = json.loads((folder / "zsclf-model.json").read_text())
    card["models"] = {RN if k == VIT else k: v for k, v in card["models"].items()}  # the ViT under the RN's name
    (folder / "zsclf-model.json").write_text(json.dumps(card))
    done = cli(home, "setup", "--import", str(folder), expect=2)
    assert f"model {RN} is already installed with other weights" in done.stderr


def test_a_joint_pair_scores_labels_by_the_cosine_of_its_towers(home):
    """--labels with a pair: the labels are embedded by the pair's own text tower and each photo's score is the
    cosine of its image embedding with them (checked against the ONNX towers run here directly)."""
    from PIL import Image

    from zsclf.models.registry import Preprocess
    from zsclf.pipeline.images import preprocess, to_rgb

    out = records(cli(home, "predict", "--model", RN, "--labels", LABELS, "-k", "5", str(IMAGES / "chelsea.png"),
                      "--label-prior", "off").stdout)
    got = {p["label"]: p["score"] for p in out[0]["predictions"]}
    manifest = json.loads((home / "models" / "manifest.json").read_text())["models"]
    size = manifest[RN]["input"]["size"]
    pixels = preprocess(to_rgb(Image.open(IMAGES / "chelsea.png")), Preprocess(size=size, crop_fraction=1.0))[None]
    (image,) = onnx_run(home, RN, {"image": pixels})
    from zsclf.models.text_encoder import TextEncoder

    text = TextEncoder.load(f"{RN}-text", models_dir=home / "models")
    names = [n.strip() for n in LABELS.split(",")]
    cos = (image / np.linalg.norm(image)) @ text.embed(names).T
    want = dict(zip(names, cos[0].tolist(), strict=True))
    assert set(got) == set(names)
    for name, score in got.items():
        assert score == pytest.approx(want[name], abs=2e-4)


def test_the_21k_cnn_predicts_with_conse_over_its_own_classes_in_the_default_index(home):
    """The 21K CNN's ConSE mixes its top-10 classes' vectors: its own 21,841 classes are the 21K index's labels,
    so the answer to a photo is the index's nearest labels to that mix (computed here from the raw logits)."""
    from PIL import Image

    from zsclf.index.store import load_index
    from zsclf.models.registry import Preprocess
    from zsclf.pipeline.images import preprocess, to_rgb

    out = records(cli(home, "predict", "--model", CNN, str(IMAGES / "coffee.png"), "-k", "3").stdout)
    manifest = json.loads((home / "models" / "manifest.json").read_text())["models"][CNN]
    spec = Preprocess(size=manifest["input"]["size"], crop_fraction=manifest["input"]["crop_fraction"])
    pixels = preprocess(to_rgb(Image.open(IMAGES / "coffee.png")), spec)[None]
    _, logits = onnx_run(home, CNN, {"image": pixels})
    index = load_index(DEFAULT_INDEX)
    top = np.argsort(-logits[0])[:10]
    p = np.exp(logits[0][top] - logits[0][top].max())
    p /= p.sum()
    vectors = index.vectors()
    query = (p[:, None] * vectors[top]).sum(axis=0)  # the 21K label file and the CNN's classes share the order
    query /= np.linalg.norm(query)
    want = [index.names[r] for r in np.argsort(-(vectors @ query))[:3]]
    assert [p["label"] for p in out[0]["predictions"]] == want


def test_an_index_built_for_a_pair_is_made_by_its_text_tower_and_used_by_predict(home, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(n.strip() for n in LABELS.split(",")) + "\n")
    cli(home, "build-index", str(labels), "--model", VIT, "-o", str(tmp_path / "vit.index"), "--quiet")
    meta = json.loads(next((tmp_path / "vit.index").glob("v*/meta.json")).read_text())
    assert meta["text_encoder"]["name"] == f"{VIT}-text" and meta["dim"] == 64
    out = records(cli(home, "predict", "--model", VIT, "--index", str(tmp_path / "vit.index"), str(IMAGES)).stdout)
    assert len(out) == len(PHOTOS) and all(len(r["predictions"]) == 5 for r in out)


@pytest.mark.parametrize("args, message", [
    (["predict", "--model", RN, "--index", str(DEFAULT_INDEX)],
     f"image model {RN} embeds photos in the space of {RN}-text"),
    (["predict", "--model", RN], f"--model {RN} -o "),
    (["predict", "--model", RN, "--labels", LABELS, "--seen-gate", "0.5"], "--seen-gate needs an image classifier"),
    (["predict", "--model", RN, "--labels", LABELS, "--exclude-seen"], "--exclude-seen needs an image classifier"),
    (["predict", "--model", RN, "--hedge", "0.9"], "needs an image classifier"),
    (["build-index", "LABELS", "--model", RN, "--space", "visual"], "--space visual is an image classifier's"),
    (["build-index", "LABELS", "--model", CNN, "--space", "visual"], "has no classifier statistics"),
    (["build-index", "LABELS", "--model", RN, "--text-model", "all-minilm-l6-v2"],
     f"image model {RN} embeds photos in the space of {RN}-text; only that text model"),
])
def test_what_needs_a_classifier_is_refused_in_one_line(home, tmp_path, args, message):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    args = [str(labels) if a == "LABELS" else a for a in args]
    done = cli(home, *args, *([str(IMAGES / "chelsea.png")] if args[0] == "predict" else
                              ["-o", str(tmp_path / "x.index")]), expect=2)
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "x.index").exists()


@pytest.mark.parametrize("model", [VIT, CNN])
def test_labels_taught_by_one_photo_each_answer_that_photo(home, tmp_path, model):
    """build-index --examples with each kind (text space: a joint tower's embeddings, or ConSE over the 21K
    classes): with one photo per label, the label's vector is that photo's query, so each photo gets its own."""
    for photo in PHOTOS:
        (tmp_path / "examples" / photo.stem).mkdir(parents=True)
        (tmp_path / "examples" / photo.stem / photo.name).symlink_to(photo)
    cli(home, "build-index", "--examples", str(tmp_path / "examples"), "--model", model, "-o",
        str(tmp_path / "taught.index"), "--quiet")
    meta = json.loads(next((tmp_path / "taught.index").glob("v*/meta.json")).read_text())
    assert meta["space"] == "text" and meta["image_encoder"]["name"] == model
    out = records(cli(home, "predict", "--model", model, "--index", str(tmp_path / "taught.index"),
                      *map(str, PHOTOS), "-k", "1").stdout)
    assert [r["predictions"][0]["label"] for r in out] == [p.stem for p in PHOTOS]
    assert all(r["predictions"][0]["score"] == pytest.approx(1.0, abs=1e-4) for r in out)


@pytest.mark.parametrize("model", [RN, CNN])
def test_photos_and_search_with_each_kind(home, tmp_path, model):
    db = str(tmp_path / "pair.db")
    cli(home, "photos", str(IMAGES), "--db", db, "--model", model, "--quiet")
    (found,) = records(cli(home, "search", "a cat on a sofa", "--db", db, "-k", "3", "-f", "jsonl").stdout)
    assert len(found["results"]) == 3 and {"path", "score"} <= found["results"][0].keys()
    from zsclf.collection.store import PhotoStore

    store = PhotoStore.open(db, readonly=True)
    setup = store.setup
    store.close()
    if model == RN:
        assert setup.projection == "joint" and setup.text_encoder.name == f"{RN}-text" and setup.dim == 64
        assert f"the image embedding of {RN}" in setup.describe()
    else:
        default_text = load_manifest(home / "models").default_text_model
        assert setup.projection == "conse" and setup.text_encoder.name == default_text and setup.dim == 384


@pytest.mark.skipif(not (SHARED / "coco-captions").exists(), reason="coco-captions absent")
@pytest.mark.parametrize("model", [RN, CNN])
def test_eval_retrieval_runs_with_each_kind(home, tmp_path, model):
    pairs = SHARED / "coco-captions" / "pairs.tsv"
    report = json.loads(cli(home, "eval-retrieval", str(pairs), "--model", model, "--json").stdout)
    assert report["photos"] > 100 and 0.0 <= report["image_to_text"]["R@1"] <= 1.0
    if model == RN:
        assert report["space"] == f"{RN}-text sentence space" and "sentence_index" not in report


@pytest.mark.parametrize("model", [RN, CNN])
def test_batch_with_each_kind_writes_every_photo(home, tmp_path, model):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out"
    cli(home, "batch", str(IMAGES), "-o", str(out), "--model", model, "--labels", LABELS, "--quiet")
    table = pq.read_table(out)
    assert table.num_rows == len(PHOTOS)
    assert set(table.column("labels").to_pylist()[0]) <= {n.strip() for n in LABELS.split(",")}


@pytest.mark.skipif(not (SHARED / "coco-captions" / "val2017").exists(), reason="coco-captions absent")
def test_a_pair_corrects_hubness_against_reference_photos_as_it_embeds_them(home, tmp_path):
    """The shipped photo prior is Lite0's logits: a pair's sentence index needs --reference-photos (refused
    without, one line), whose image embeddings are then the typical photos; auto label correction says why not."""
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("a cat on a sofa\na cup of coffee\na rocket on the launch pad\na field of daisies\n")
    out = tmp_path / "s.index"
    done = cli(home, "build-index", str(sentences), "--sentences", "--model", RN, "-o", str(out), expect=2)
    assert "give --reference-photos" in done.stderr and not out.exists()
    cli(home, "build-index", str(sentences), "--sentences", "--model", RN, "-o", str(out), "--quiet",
        "--reference-photos", str(SHARED / "coco-captions" / "val2017"))
    meta = json.loads(next(out.glob("v*/meta.json")).read_text())
    assert "reference photos from val2017" in meta["calibration"]["method"]
    assert meta["text_encoder"]["name"] == f"{RN}-text"
    ranked = records(cli(home, "predict", "--model", RN, "--index", str(out), str(IMAGES / "chelsea.png")).stdout)
    assert len(ranked[0]["predictions"]) == 4
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nrocket\n")
    cli(home, "build-index", str(labels), "--model", RN, "-o", str(tmp_path / "l.index"), "--quiet")
    meta = json.loads(next((tmp_path / "l.index").glob("v*/meta.json")).read_text())
    assert meta["label_prior"]["reason"].startswith("not applied: the shipped photo prior holds a CNN's logits")


@pytest.mark.skipif(not (SHARED / "imagenet-sample").exists(), reason="imagenet-sample absent")
def test_eval_scores_the_cnn_on_its_own_classes_and_a_pair_on_none(home, tmp_path):
    """eval's CNN top-k row uses the image model's own class list (a 21K CNN's logits are not ImageNet-1K's);
    a joint tower has no classes, so no such row."""
    data = SHARED / "imagenet-sample"
    cnn = json.loads(cli(home, "eval", str(data / "labels.tsv"), "--only", "n015", "--model", CNN, "--json").stdout)
    assert cnn["cnn_softmax"]["images"] == cnn["evaluated"] > 0
    labels = tmp_path / "labels.tsv"
    wanted = [line.split("\t") for line in (data / "labels.tsv").read_text().splitlines()[1:]]
    labels.write_text("id\tlabel\n" + "".join(f"{w[2]}\t{w[3]}\n" for w in wanted if w[0].startswith("n015")))
    pair = json.loads(cli(home, "eval", str(data / "labels.tsv"), "--only", "n015", "--model", RN,
                          "--labels", str(labels), "--json").stdout)
    assert pair["evaluated"] == cnn["evaluated"] and "cnn_softmax" not in pair


def test_an_import_removes_only_the_temp_files_a_killed_import_left(home, test_models_dir):
    """A copy killed mid-way leaves `.FILE.import-<hex>.tmp`: the next import deletes those, and nothing else."""
    models = home / "models"
    stale = models / ".test-clip-vit.onnx.import-0badc0de.tmp"
    stale.write_bytes(b"half a model")
    users = [models / ".notes.tmp", models / ".x.import-NOTHEX00.tmp"]
    for path in users:
        path.write_text("not zsclf's")
    cli(home, "setup", "--import", str(test_models_dir / "clip-vit"))
    assert not stale.exists() and all(p.read_text() == "not zsclf's" for p in users)
    for path in users:
        path.unlink()
