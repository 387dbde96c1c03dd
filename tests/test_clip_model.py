"""``clip:PATH`` models: a tiny random CLIP checkpoint converted to ONNX and used by a real library.

Random weights carry no meaning, so these tests check the mechanics: the ONNX graphs reproduce
PyTorch, and indexing / searching / the catalog go through the CLIP model and its single space.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import skimage_data

from framefind import FrameFindError, Library
from framefind.media.images import load_image
from framefind.models.base import load_model
from framefind.models.clip import ClipModel
from framefind.search.cutoff import MIN_ITEMS
from framefind.search.relevance import CUTOFF, EXAMPLE_SMALL, WORDS_SMALL, Curve
from framefind.search.results import Result

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png",
          "camera.png", "coins.png"]
# Deliberately not CLIP's statistics: the image graph must take them from the checkpoint.
MEAN, STD = [0.40, 0.50, 0.60], [0.20, 0.30, 0.25]
TEXTS = ["a cat", "a cup of coffee on a table", "x", " ".join(["rocket"] * 40), "an astronaut"]


def cosine(result: Result) -> float:
    """A result's visual cosine (its ``visual`` match): the evidence these tests check the vectors by, since a
    result's score is the probability it is what was asked for (issue #19)."""
    return next(m for m in result.matches if m.signal == "visual").score


def small_library_score(curve: Curve, cosines: list[float]) -> list[float]:
    """The scores, as shown (3 decimals), that results with these cosines get in a library too small for a score
    distribution (under cutoff.MIN_ITEMS items: only the cosine counts, by ``curve``)."""
    return [round(float(p), 3) for p in curve(np.array(cosines)[:, None])]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised CLIP saved the way users save one (model, tokenizer, image processor)."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizerFast

    path = tmp_path_factory.mktemp("tiny-clip")
    # CLIP's byte-level BPE layout: bytes, bytes ending a word, merges, then the two special tokens last.
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = [*alphabet, *(c + "</w>" for c in alphabet)]
    merges = [("c", "a"), ("ca", "t</w>"), ("r", "o"), ("ro", "c")]
    vocab += [a + b for a, b in merges] + ["<|startoftext|>", "<|endoftext|>"]
    (path / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (path / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = CLIPTokenizerFast.from_pretrained(str(path))
    assert tokenizer.convert_ids_to_tokens(tokenizer("a cat")["input_ids"]) == [
        "<|startoftext|>", "a</w>", "cat</w>", "<|endoftext|>"]
    (path / "vocab.json").unlink()
    (path / "merges.txt").unlink()

    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**layers, "vocab_size": len(vocab), "max_position_embeddings": 16,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={**layers, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(str(path))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                         image_mean=MEAN, image_std=STD)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(str(path))
    return path



def torch_embeddings(checkpoint: Path, pixels: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The reference: normalised get_image_features / get_text_features of the PyTorch model."""
    import torch
    from transformers import CLIPModel, CLIPTokenizerFast

    model = CLIPModel.from_pretrained(str(checkpoint)).eval()
    tokenizer = CLIPTokenizerFast.from_pretrained(str(checkpoint))
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.no_grad():
        out = [model.get_image_features(pixel_values=x), model.get_text_features(**tokens)]
    out = [o if isinstance(o, torch.Tensor) else o.pooler_output for o in out]  # transformers 5: an output
    return tuple(torch.nn.functional.normalize(o, dim=1).numpy() for o in out)


def test_onnx_matches_pytorch(checkpoint, model_cache):
    model = load_model(f"clip:{checkpoint}")
    assert (model.name, model.spaces, model.image_size) == (f"clip:{checkpoint.resolve()}", {"clip": 16}, 32)
    pixels = np.stack([load_image(skimage_data() / name, model.image_size)[0] for name in PHOTOS])
    images = model.embed_images(pixels)["clip"]
    texts = model.embed_texts(TEXTS)
    ref_images, ref_texts = torch_embeddings(checkpoint, pixels, TEXTS)
    diff = max(np.abs(images - ref_images).max(), np.abs(texts - ref_texts).max())
    print(f"ONNX vs PyTorch max abs difference: {diff:.2e}")
    assert diff < 1e-4
    # Dynamic shapes: batch size and padded length other than the traced ones give the same vectors.
    assert np.abs(model.embed_images(pixels[:1])["clip"] - ref_images[:1]).max() < 1e-4
    singles = np.concatenate([model.embed_texts([text]) for text in TEXTS])
    assert np.abs(singles - ref_texts).max() < 1e-4
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    # Distinct photos get clearly distinct vectors, or the ranking test below would prove nothing.
    cosines = images @ images.T
    assert cosines[~np.eye(len(PHOTOS), dtype=bool)].max() < 0.99
    converted = next((model_cache / "models").glob("clip-*"))
    assert {"image.onnx", "text.onnx", "tokenizer.json", "model.json"} <= {p.name for p in converted.iterdir()}


def test_library_indexes_and_searches_with_clip(checkpoint, model_cache, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(skimage_data() / name, photos / name)
    with Library.open(tmp_path / "lib", model=f"clip:{checkpoint}") as lib:
        report = lib.index([photos])
        assert (report.embedded, report.failed) == (len(PHOTOS), 0)
        model_ids = {row[0] for row in lib.catalog.db.execute("select model from embedded")}
        assert model_ids == {lib.model_id} and lib.model_id.startswith("clip-")
        assert lib.model.name == f"clip:{checkpoint.resolve()}"

        assert len(PHOTOS) < MIN_ITEMS  # scores judged by the cosine alone (small_library_score)
        for name in ("chelsea.png", "rocket.jpg"):
            hits = lib.search(image=photos / name, k=3)
            assert Path(hits[0].path).name == name
            assert cosine(hits[0]) == pytest.approx(1.0, abs=2e-3)
            assert cosine(hits[1]) < cosine(hits[0]) - 0.005
            assert [hit.score for hit in hits] == pytest.approx(  # a 4-decimal cosine may flip the 3rd decimal
                small_library_score(EXAMPLE_SMALL, [cosine(hit) for hit in hits]), abs=1.5e-3)
            assert hits[1].score < hits[0].score

        # Random weights name nothing: "a cat" is as close to every photo as to none (cosines within 0.15 of 0),
        # far under the ~0.34 that WORDS_SMALL needs for the cutoff's score. The mechanics, without the cutoff:
        page = lib.search_page("a cat", k=3)
        assert page.nothing_matched and page.cutoff == CUTOFF and page.closest["visual"] < CUTOFF
        hits = lib.search("a cat", k=3, cutoff=False)
        assert {hit.kind for hit in hits} == {"image"}
        query = ClipModel(str(checkpoint)).embed_texts(["a cat"])[0]
        ids, stored = lib.catalog.vectors(lib.model_id, "clip")
        contents = {info.item_id: info.content for info in lib.catalog.item_infos(ids.tolist()).values()}
        expected = {contents[i]: score for i, score in zip(ids.tolist(), (stored @ query).tolist(), strict=True)}
        # A random tiny CLIP sees these photos as near-identical: they fold into the best (listed under it).
        # A folded near-duplicate keeps only its score (a probability); a result shows its cosine too.
        folded = [(n.key, n.score) for hit in hits for n in hit.near_duplicates]
        shown = [(hit.key, hit.score) for hit in hits] + folded
        ranking = sorted(expected, key=expected.get, reverse=True)
        assert hits[0].key == ranking[0] and [hit.key for hit in hits] == sorted(
            (hit.key for hit in hits), key=expected.get, reverse=True)
        assert set(ranking[:3]) <= {key for key, _ in shown}
        for hit in hits:
            assert cosine(hit) == pytest.approx(expected[hit.key], abs=1e-3)
        # cosine within 1e-3, WORDS_SMALL's slope at most 8.8 / 4, rounding 5e-4: within 3e-3 of the score
        for (key, score), want in zip(shown, small_library_score(WORDS_SMALL, [expected[k] for k, _ in shown]),
                                      strict=True):
            assert score == pytest.approx(want, abs=3e-3), key

    monkeypatch.chdir(checkpoint.parent)  # a relative path names the same checkpoint
    assert ClipModel(checkpoint.name).name == f"clip:{checkpoint.resolve()}"
    assert ClipModel(checkpoint.name).id == ClipModel(str(checkpoint)).id


def test_unloadable_checkpoints_fail_in_one_line(model_cache, tmp_path):
    with pytest.raises(FrameFindError, match="no such checkpoint directory"):
        ClipModel(str(tmp_path / "missing"))
    with pytest.raises(FrameFindError, match="cannot load the CLIP checkpoint") as info:
        _ = ClipModel(str(tmp_path)).spaces
    assert "\n" not in str(info.value)
