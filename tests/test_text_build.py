"""Label embedding in token-length order: the same vectors as unsorted batches, in input order, and reuse of
the previous call's texts (the seen classes after the 21K labels). On the float text model, whose vectors do
not depend on their batch mates (the int8 one quantizes each batch's activations: tests/test_text_int8.py)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT

FLOAT = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def encoder(models_ready):
    from zsclf.models.text_encoder import TextEncoder

    text = TextEncoder.load(FLOAT)
    text.reuse = False  # each call embeds every text, unless a test turns reuse on
    return text


@pytest.fixture(scope="module")
def glossed() -> list[str]:
    """About 300 real 21K labels with their glosses: 5 to 100+ tokens, in file order (lengths mixed)."""
    from zsclf.data.labels import DEFAULT_TEMPLATE, effective_template, read_labels

    labels = read_labels(ROOT / "labels" / "imagenet21k.tsv")
    texts = labels.texts(effective_template(labels, DEFAULT_TEMPLATE))
    picked = texts[::73]
    longest = max(texts, key=len)
    return [*picked, longest, "cat"]


def test_sorted_batches_match_unsorted(encoder, glossed):
    lengths = [len(e.ids) for e in encoder.tokenizer.encode_batch(glossed)]
    assert max(lengths) > 4 * min(lengths)  # the batches really mix lengths when unsorted
    by_tokens = encoder.embed(glossed)
    as_given = encoder.embed(glossed, order="input")
    by_chars = encoder.embed(glossed, batch_size=32, order="chars")
    assert by_tokens.shape == (len(glossed), encoder.dim)
    np.testing.assert_allclose(by_tokens, as_given, atol=1e-5)
    np.testing.assert_allclose(by_tokens, by_chars, atol=1e-5)


def test_rows_come_back_in_input_order(encoder, glossed):
    batch = encoder.embed(glossed)
    for i in (0, 1, len(glossed) // 2, len(glossed) - 2, len(glossed) - 1):  # each text embedded alone
        np.testing.assert_allclose(batch[i], encoder.embed([glossed[i]])[0], atol=1e-5)
    reversed_rows = encoder.embed(glossed[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], batch, atol=1e-5)


def test_empty_and_single_label(encoder):
    counted: list[int] = []
    empty = encoder.embed([], progress=counted.append)
    assert empty.shape == (0, encoder.dim) and counted == []
    one = encoder.embed(["a photo of a cat"], progress=counted.append)
    assert one.shape == (1, encoder.dim) and counted == [1]
    assert abs(float(np.linalg.norm(one[0])) - 1.0) < 1e-5


def test_progress_counts_every_text_once(encoder, glossed):
    counted: list[int] = []
    encoder.embed(glossed, batch_size=50, progress=counted.append)
    assert sum(counted) == len(glossed) and max(counted) <= 50


def test_unknown_order_is_refused(encoder):
    with pytest.raises(ValueError, match="order"):
        encoder.embed(["cat"], order="random")


def test_previous_call_is_reused(models_ready, glossed):
    from zsclf.models.text_encoder import TextEncoder

    text = TextEncoder.load(FLOAT)
    first = text.embed(glossed)
    kept = first.copy()
    first[:] = 0.0  # what the caller does with its rows does not change what is reused
    overlap = [glossed[5], "a brand new label", glossed[0]]
    counted: list[int] = []
    again = text.embed(overlap, progress=counted.append)
    np.testing.assert_array_equal(again[0], kept[5])  # taken from the previous call, not embedded again
    np.testing.assert_array_equal(again[2], kept[0])
    assert sum(counted) == 3
    text.reuse = False
    np.testing.assert_allclose(again, text.embed(overlap), atol=1e-5)
