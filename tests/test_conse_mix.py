"""effnet-conse's class mix (issue #12): ``top_t`` classes weighted by softmax(logits / ``temperature``).
New libraries record the re-tuned mix (T = 40, temperature 2); libraries that chose the model earlier keep
T = 20 at temperature 1 with unchanged model ids, so nothing of theirs is re-embedded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import skimage_data

from framefind import Library
from framefind.errors import FrameFindError
from framefind.linalg import l2_normalize
from framefind.media.images import load_image
from framefind.models.base import load_model
from framefind.models.conse import RECOMMENDED_DRAFT_FILL, RECOMMENDED_MIX


def test_the_temperature_flattens_the_mix_as_softmax_of_scaled_logits():
    model = load_model("effnet-conse", {"top_t": 40, "temperature": 2.0, "precision": "float"})
    pixels = np.stack([load_image(skimage_data() / name, 224)[0] for name in ("chelsea.png", "coffee.png")])
    features, logits = model._image_session.run(None, {"pixels": pixels})
    scaled = np.exp((logits - logits.max(axis=1, keepdims=True)) / 2.0)
    probs = scaled / scaled.sum(axis=1, keepdims=True)
    expected = []
    for row in probs:
        top = np.argsort(-row)[:40]
        expected.append(row[top] @ model.label_vectors[top])
    semantic = model.embed_images(pixels)["semantic"]
    np.testing.assert_allclose(semantic, l2_normalize(np.array(expected)), atol=1e-5)
    sharp = load_model("effnet-conse", {"top_t": 40, "precision": "float"}).embed_images(pixels)["semantic"]
    assert np.all(np.sum(semantic * sharp, axis=1) < 0.999)  # a different vector, so a different model id


def test_the_mix_is_part_of_the_id_and_the_old_default_keeps_its_id():
    old = load_model("effnet-conse", {"top_t": 20, "temperature": 1.0})
    assert old.options() == load_model("effnet-conse").options()  # temperature 1 is left unsaid
    assert "temperature" not in old.options() and old.id == load_model("effnet-conse").id
    new = load_model("effnet-conse", dict(RECOMMENDED_MIX))
    assert new.options()["temperature"] == 2.0 and new.options()["top_t"] == 40 and new.id != old.id


@pytest.mark.parametrize("value", [0, 0.05, 11, "warm", None])
def test_a_bad_temperature_is_one_line(value):
    with pytest.raises(FrameFindError, match=r"^effnet-conse: temperature must be a number from 0.1 to 10 \(got "):
        load_model("effnet-conse", {"temperature": value})


def test_a_new_library_records_the_mix_and_an_older_one_keeps_its_own(tmp_path):
    photo = skimage_data() / "chelsea.png"
    with Library.open(tmp_path / "new") as library:
        assert {k: library.choice["options"][k] for k in RECOMMENDED_MIX} == RECOMMENDED_MIX
        library.index([photo])
        assert library.models()[0]["options"]["temperature"] == 2.0
        assert library.models()[0]["options"]["draft_fill"] == RECOMMENDED_DRAFT_FILL
        assert library.models()[0]["options"]["labels"] == "phrasings"
    with Library.open(tmp_path / "old") as library:
        library.catalog.set_meta("model_choice", json.dumps({"name": "effnet-conse", "options": {}}))  # as 0.4
    with Library.open(tmp_path / "old") as library:
        assert library.target_model.temperature == 1.0 and library.target_model.top_t == 20
        assert library.target_model.draft_fill == 1.0  # and decodes JPEGs as it did
        assert library.target_model.label_kind == "sentence"  # and describes classes as it did
        library.index([photo])
        assert library.model_id == load_model("effnet-conse").id


def test_label_phrasings_are_an_option_whose_vectors_are_the_mean_of_four():
    """``labels: phrasings``: each class is the normalised mean of four texts' MiniLM vectors (the float graph,
    as every label text is embedded); the default, one sentence a class, keeps the ids libraries recorded."""
    from framefind.models.conse import imagenet_labels, label_phrasings, label_text

    sentence, phrasings = load_model("effnet-conse"), load_model("effnet-conse", {"labels": "phrasings"})
    assert "labels" not in sentence.options() and sentence.id == load_model("effnet-conse", {"labels": "sentence"}).id
    assert phrasings.options()["labels"] == "phrasings" and phrasings.id != sentence.id
    assert len(phrasings.label_texts) == 4000 and phrasings.label_vectors.shape == sentence.label_vectors.shape
    labels = imagenet_labels()
    for row in (0, 281, 999):  # tench, tabby cat, toilet tissue
        texts = label_phrasings(labels[row])
        assert texts[0] == label_text(labels[row]) and texts[2].startswith("a photo of a ")
        mean = sentence.text_encoder.embed(texts).mean(axis=0)
        assert np.allclose(phrasings.label_vectors[row], mean / np.linalg.norm(mean), atol=1e-5)
    one = sentence.text_encoder.embed([label_text(labels[281])])[0]
    assert np.allclose(sentence.label_vectors[281], one, atol=1e-6)
    with pytest.raises(FrameFindError, match=r"^effnet-conse: labels must be sentence or phrasings \(got 'words'\)"):
        load_model("effnet-conse", {"labels": "words"})
