"""Every model family offered as a drop-in: ``clip:``, ``siglip:`` and ``onnx:`` (an ONNX export).

Each is tested with a tiny randomly initialised model that the test builds with ``transformers`` and
saves as a user would: the real loading code, the real preprocessing and tokenizer, a real library.
Random weights carry no meaning, so the checks are mechanical: ONNX reproduces PyTorch, pixels match
the checkpoint's own image processor, tokens match its own tokenizer, an image's nearest neighbour is
itself, a text query ranks by the stored vectors, ids follow the weights, and missing weights offline
fail fast in one line. The tiny CLIP comes from test_clip_model.py.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import skimage_data
from PIL import Image
from test_clip_model import checkpoint, cosine, small_library_score  # noqa: F401 (checkpoint: the tiny CLIP fixture)

from framefind import FrameFindError, Library
from framefind.media.images import load_image
from framefind.models import hub
from framefind.models.base import load_model
from framefind.search.cutoff import MIN_ITEMS
from framefind.search.relevance import CUTOFF, EXAMPLE_SMALL, WORDS_SMALL

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png"]
TEXTS = ["A photo of a Cat!", "a cup of coffee, on a table.", "x", " ".join(["rocket"] * 80), "Ｆｕｌｌ width！", ""]
# Not SigLIP's 0.5s: the image graph must take them from the checkpoint.
MEAN, STD = [0.50, 0.40, 0.30], [0.20, 0.30, 0.25]


@pytest.fixture(scope="module")
def siglip_checkpoint(tmp_path_factory) -> Path:
    """A random SigLIP saved the way users save one: SentencePiece tokenizer, squashing image processor."""
    spm = pytest.importorskip("sentencepiece")
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipProcessor, SiglipTokenizer
    from transformers import SiglipModel as HFSiglipModel

    path = tmp_path_factory.mktemp("tiny-siglip")
    corpus = ["a photo of a cat", "a cup of coffee on a table", "an astronaut in space", "a rocket launch",
              "a red motorcycle", "a horse in a field", "a camera man", "old coins"] * 20
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=model, vocab_size=60,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    (path / "spiece.model").write_bytes(model.getvalue())
    tokenizer = SiglipTokenizer(vocab_file=str(path / "spiece.model"))
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = SiglipConfig(
        text_config={**layers, "vocab_size": tokenizer.vocab_size, "max_position_embeddings": 64,
                     "pad_token_id": 1, "eos_token_id": 1, "bos_token_id": None},
        vision_config={**layers, "image_size": 32, "patch_size": 8},
    )
    torch.manual_seed(0)
    HFSiglipModel(config).save_pretrained(str(path))
    images = SiglipImageProcessor(size={"height": 32, "width": 32}, image_mean=MEAN, image_std=STD)
    SiglipProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(str(path))
    return path



@pytest.fixture
def no_hub(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache and no network allowed: what an offline machine without weights has."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf" / "hub"


def model_name(family: str, clip_dir: Path, siglip_dir: Path) -> str:
    """``family``'s model for the tiny checkpoints (``onnx:`` runs the CLIP conversion's export as it is)."""
    if family == "siglip":
        return f"siglip:{siglip_dir}"
    if family == "onnx":
        clip = load_model(f"clip:{clip_dir}")
        _ = clip.spaces  # converts
        return f"onnx:{clip.directory}"
    return f"clip:{clip_dir}"


def test_siglip_tokens_match_its_tokenizer(siglip_checkpoint, tmp_path):
    """The SentencePiece model rebuilt for ``tokenizers`` (and a checkpoint's own tokenizer.json, as SigLIP 2
    ships) tokenizes as transformers' SiglipTokenizer: canonicalised, end token, padded to 64."""
    from transformers import PreTrainedTokenizerFast, SiglipTokenizer

    from framefind.models.tokenizer_export import export_tokenizer

    reference = SiglipTokenizer.from_pretrained(str(siglip_checkpoint))
    expected = reference(TEXTS, padding="max_length", max_length=64, truncation=True)["input_ids"]
    rebuilt = export_tokenizer("siglip", siglip_checkpoint, 64)
    assert [e.ids for e in rebuilt.encode_batch(TEXTS)] == expected
    assert all(len(ids) == 64 and 1 in ids for ids in expected)  # the end token survives truncation

    fast = tmp_path / "fast"
    shutil.copytree(siglip_checkpoint, fast, ignore=shutil.ignore_patterns("spiece.model", "tokenizer_config.json"))
    rebuilt.no_padding()
    rebuilt.no_truncation()
    PreTrainedTokenizerFast(tokenizer_object=rebuilt, eos_token="</s>", pad_token="</s>",
                            unk_token="<unk>").save_pretrained(str(fast))
    assert (fast / "tokenizer.json").exists() and not (fast / "spiece.model").exists()
    assert [e.ids for e in export_tokenizer("siglip", fast, 64).encode_batch(TEXTS)] == expected


def test_siglip_onnx_matches_pytorch(siglip_checkpoint, model_cache):
    import torch
    from transformers import SiglipModel as HFSiglipModel
    from transformers import SiglipTokenizer

    model = load_model(f"siglip:{siglip_checkpoint}")
    assert (model.name, model.spaces, model.image_size) == (f"siglip:{siglip_checkpoint.resolve()}", {"siglip": 32}, 32)
    preprocess = model.preprocess
    assert (preprocess.fit, preprocess.mean, preprocess.std) == ("squash", tuple(MEAN), tuple(STD))
    assert model.spec()["pixels"]["fit"] == "squash"
    pixels = np.stack([load_image(skimage_data() / name, 32, fit="squash")[0] for name in PHOTOS])
    images, texts = model.embed_images(pixels)["siglip"], model.embed_texts(TEXTS)

    reference = HFSiglipModel.from_pretrained(str(siglip_checkpoint)).eval()
    ids = SiglipTokenizer.from_pretrained(str(siglip_checkpoint))(
        TEXTS, padding="max_length", max_length=64, truncation=True, return_tensors="pt")["input_ids"]
    x = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():  # no attention mask: SigLIP was trained attending to its padding
        out = [reference.get_image_features(pixel_values=x), reference.get_text_features(input_ids=ids)]
    ref_images, ref_texts = (torch.nn.functional.normalize(o.pooler_output, dim=1).numpy() for o in out)
    assert max(np.abs(images - ref_images).max(), np.abs(texts - ref_texts).max()) < 1e-4
    assert np.abs(model.embed_texts(TEXTS[:1]) - ref_texts[:1]).max() < 1e-4  # another batch size
    assert np.abs(model.embed_images(pixels[:1])["siglip"] - ref_images[:1]).max() < 1e-4
    cosines = images @ images.T
    assert cosines[~np.eye(len(PHOTOS), dtype=bool)].max() < 0.99  # or the self-match test proves nothing


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_pixels_match_the_checkpoints_image_processor(family, checkpoint, siglip_checkpoint, model_cache):  # noqa: F811
    """Decoded as the model declares (CLIP: shorter side + centre crop; SigLIP: squashed), pixels are
    those of the checkpoint's own processor up to resampling (bilinear here, bicubic there); the other
    fit is far off for any picture that is not square."""
    from transformers import AutoImageProcessor

    path = checkpoint if family == "clip" else siglip_checkpoint
    model = load_model(f"{family}:{path}")
    processor = AutoImageProcessor.from_pretrained(str(path))
    mean, std = np.array(model.preprocess.mean), np.array(model.preprocess.std)
    assert (model.preprocess.fit, list(mean), list(std)) == (
        {"clip": "crop", "siglip": "squash"}[family], list(processor.image_mean), list(processor.image_std))
    wrong = {"crop": "squash", "squash": "crop"}[model.preprocess.fit]
    for name in ["chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]:
        expected = processor(images=Image.open(skimage_data() / name).convert("RGB"), return_tensors="np")
        expected = (expected["pixel_values"][0].transpose(1, 2, 0) * std + mean) * 255  # back to grey levels
        ours, other = (load_image(skimage_data() / name, model.image_size, fit=fit)[0] for fit in
                       (model.preprocess.fit, wrong))
        error, other_error = np.abs(ours - expected).mean(), np.abs(other - expected).mean()
        print(f"{family} {name}: mean |difference| {error:.1f} grey levels (other fit {other_error:.1f})")
        assert error < 12 and error < other_error / 2.5


@pytest.mark.parametrize("family", ["clip", "siglip", "onnx"])
def test_library_indexes_and_searches(family, checkpoint, siglip_checkpoint, model_cache, tmp_path):  # noqa: F811
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(skimage_data() / name, photos / name)
    with Library.open(tmp_path / "lib", model=model_name(family, checkpoint, siglip_checkpoint)) as lib:
        report = lib.index([photos])
        assert (report.embedded, report.failed) == (len(PHOTOS), 0)
        assert lib.model_id.startswith(f"{family}-")
        space = lib.model.image_space
        ids, stored = lib.catalog.vectors(lib.model_id, space)
        contents = {info.item_id: info.content for info in lib.catalog.item_infos(ids.tolist()).values()}
        by_content = dict(zip((contents[i] for i in ids.tolist()), stored, strict=True))

        assert len(PHOTOS) < MIN_ITEMS  # scores judged by the cosine alone (small_library_score)
        for name in PHOTOS:  # each photo's nearest neighbour is itself, decoded as the model declares
            hits = lib.search(image=photos / name, k=3)
            assert Path(hits[0].path).name == name
            assert cosine(hits[0]) == pytest.approx(1.0, abs=2e-3)
            assert [hit.score for hit in hits] == pytest.approx(  # a 4-decimal cosine may flip the 3rd decimal
                small_library_score(EXAMPLE_SMALL, [cosine(hit) for hit in hits]), abs=1.5e-3)
            pixels = load_image(photos / name, lib.model.image_size, fit=lib.model.preprocess.fit)[0]
            vector = lib.model.embed_images(pixels[None])[space][0]
            assert np.abs(by_content[hits[0].key] - vector).max() < 2e-3  # stored as float16

        query = lib.model.embed_texts(["a cat"])[0]
        expected = {key: float(vector @ query) for key, vector in by_content.items()}
        # random weights name nothing (cosines near 0, far under the ~0.34 WORDS_SMALL needs for the cutoff's
        # score): with the cutoff nothing matched; without it, the mechanics
        page = lib.search_page("a cat", k=3)
        assert page.nothing_matched and page.cutoff == CUTOFF
        hits = lib.search("a cat", k=3, cutoff=False)
        # a folded near-duplicate keeps only its score (a probability); a result shows its cosine too
        shown = [(hit.key, hit.score) for hit in hits] + [(n.key, n.score) for hit in hits for n in hit.near_duplicates]
        assert hits and hits[0].key == max(expected, key=expected.get)
        for hit in hits:
            assert cosine(hit) == pytest.approx(expected[hit.key], abs=1e-3)
        # cosine within 1e-3, WORDS_SMALL's slope at most 8.8 / 4, rounding 5e-4: within 3e-3 of the score
        for (key, score), want in zip(shown, small_library_score(WORDS_SMALL, [expected[k] for k, _ in shown]),
                                      strict=True):
            assert score == pytest.approx(want, abs=3e-3), key


def test_ids_follow_the_weights(siglip_checkpoint, checkpoint, model_cache, tmp_path):  # noqa: F811
    import torch
    from safetensors.torch import load_file, save_file

    first = load_model(f"siglip:{siglip_checkpoint}").id
    assert load_model(f"siglip:{siglip_checkpoint}").id == first
    changed = tmp_path / "changed"
    shutil.copytree(siglip_checkpoint, changed)
    weights = load_file(str(changed / "model.safetensors"))
    name = next(key for key in sorted(weights) if key.endswith("head.weight"))
    weights[name] = weights[name] + 0.01 * torch.ones_like(weights[name])
    save_file(weights, str(changed / "model.safetensors"), metadata={"format": "pt"})
    model = load_model(f"siglip:{changed}")
    assert model.id != first and model.id.startswith("siglip-")
    assert model.directory != load_model(f"siglip:{siglip_checkpoint}").directory  # a conversion of its own

    export = Path(model_name("onnx", checkpoint, siglip_checkpoint).removeprefix("onnx:"))
    copy = tmp_path / "export"
    shutil.copytree(export, copy, ignore=shutil.ignore_patterns(".lock"))
    before = load_model(f"onnx:{copy}").id
    meta = json.loads((copy / "model.json").read_text())
    meta["preprocess"]["fit"] = "squash"
    (copy / "model.json").write_text(json.dumps(meta))
    assert load_model(f"onnx:{copy}").id != before


def fake_hub_cache(hub_dir: Path, repo: str, source: Path, commit: str = "0123abcd" * 5) -> Path:
    """``repo`` as ``hf download`` leaves it in the Hugging Face cache: refs/main and a snapshot."""
    folder = hub_dir / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    shutil.copytree(source, folder / "snapshots" / commit)
    return folder / "snapshots" / commit


@pytest.fixture
def network(monkeypatch) -> dict[str, list]:
    """What the code asks of the network, recorded (names looked up, connections, hub metadata requests with
    their timeout, snapshot downloads with their arguments) and waits between retries. Failing fast is a
    matter of what is asked, not of how long this machine's resolver takes to say no."""
    import socket

    import huggingface_hub

    asked: dict[str, list] = {"lookups": [], "connections": [], "metadata": [], "snapshots": [], "sleeps": []}
    lookup, connect = socket.getaddrinfo, socket.socket.connect
    model_info, snapshot = huggingface_hub.HfApi.model_info, huggingface_hub.snapshot_download

    def record(kind, function):
        def call(*args, **kwargs):
            asked[kind].append((args, kwargs))
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(socket, "getaddrinfo", record("lookups", lookup))
    monkeypatch.setattr(socket.socket, "connect", record("connections", connect))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", record("metadata", model_info))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", record("snapshots", snapshot))
    monkeypatch.setattr(time, "sleep", record("sleeps", time.sleep))
    return asked


def test_offline_without_weights_fails_fast_in_one_line(no_hub, model_cache, network):
    for name, repo, saved in [("clip:ViT-B-32", "openai/clip-vit-base-patch32", "CLIPModel"),
                              ("siglip:base", "google/siglip-base-patch16-224", "SiglipModel"),
                              ("clip:someone/their-clip", "someone/their-clip", "CLIPModel")]:
        model = load_model(name)  # naming a model reads nothing: a library opens without its weights
        family = name.split(":")[0]
        with pytest.raises(FrameFindError) as info:
            _ = model.id
        assert str(info.value) == (
            f"{name}: weights not found offline; download '{repo}' (hf download {repo}) into the Hugging Face "
            f"cache ({no_hub}) or save it with {saved}.save_pretrained into a directory and pass {family}:DIR")
        assert "\n" not in str(info.value)
    assert not (network["lookups"] or network["connections"] or network["metadata"] or network["sleeps"])
    assert network["snapshots"] and all(kw.get("local_files_only") for _, kw in network["snapshots"])  # cache only


def test_without_a_network_a_download_fails_in_one_line(tmp_path, monkeypatch, model_cache, network):
    """Online mode (no HF_HUB_OFFLINE) on a machine that cannot reach the hub, as here and in CI: the
    real download path fails fast, in one line naming the repository. (A repository that does not exist:
    where the hub is reachable the answer is a 404, never gigabytes of weights.)"""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(FrameFindError) as info:
        _ = load_model("clip:framefind-tests/no-such-checkpoint").id
    message = str(info.value)
    assert message.startswith("clip:framefind-tests/no-such-checkpoint: download failed (") and "\n" not in message
    assert "hf download framefind-tests/no-such-checkpoint" in message
    # Fast on any network: one metadata request, bounded by hub.TIMEOUT, and no retries (listing or fetching
    # files would retry for half a minute): every snapshot call only looked in the cache, nothing slept.
    assert [kw.get("timeout") for _, kw in network["metadata"]] == [hub.TIMEOUT]
    assert all(kw.get("local_files_only") for _, kw in network["snapshots"]) and not network["sleeps"]


def test_well_known_names_load_from_the_hugging_face_cache(no_hub, checkpoint, model_cache, monkeypatch):  # noqa: F811
    """``clip:ViT-B-32`` is found in the cache offline, named by repository and commit; online and
    missing, it is downloaded once, then found in the cache."""
    snapshot = fake_hub_cache(no_hub, "openai/clip-vit-base-patch32", checkpoint)
    model = load_model("clip:ViT-B-32")
    assert (model.name, model.checkpoint) == ("clip:ViT-B-32", snapshot)
    assert model.spaces == {"clip": 16}
    assert model.weights()["checkpoint"] != load_model(f"clip:{checkpoint}").weights()["checkpoint"]

    downloads = []

    def download(source, saved_class):
        downloads.append(source.repo)
        return fake_hub_cache(no_hub, source.repo, checkpoint)

    monkeypatch.setattr(hub, "download", download)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert load_model("clip:ViT-B-16").checkpoint.is_dir() and downloads == ["openai/clip-vit-base-patch16"]
    assert load_model("clip:ViT-B-16").checkpoint.is_dir() and len(downloads) == 1


def test_names_that_pick_nothing_fail_in_one_line(tmp_path):
    with pytest.raises(FrameFindError) as info:
        load_model("dinov2:base")
    assert "effnet-conse, clip:NAME|DIR|HUB_ID, siglip:NAME|DIR|HUB_ID, onnx:DIR" in str(info.value)
    with pytest.raises(FrameFindError, match=r"not a known name \(ViT-B-32, ViT-B-16"):
        load_model("clip:ViT-X-99")
    with pytest.raises(FrameFindError, match="no such checkpoint directory"):
        load_model(f"siglip:{tmp_path / 'missing'}")
    with pytest.raises(FrameFindError, match="missing image.onnx, text.onnx"):
        load_model(f"onnx:{tmp_path}")
    with pytest.raises(FrameFindError, match="cannot load the SigLIP checkpoint"):
        _ = load_model(f"siglip:{tmp_path}").spaces


def test_video_frames_are_fitted_as_the_model_declares():
    """A wide frame squashed keeps its edges (SigLIP); cropped, it keeps only its middle (CLIP)."""
    import av

    from framefind.media.video import model_pixels

    rgb = np.zeros((90, 320, 3), np.uint8)
    rgb[:, :40] = (0, 255, 0)  # green left edge, outside any centre crop
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    squashed, upright, size = model_pixels(frame, 32, "squash")
    cropped, _, _ = model_pixels(frame, 32, "crop")
    assert squashed.shape == cropped.shape == (32, 32, 3) and size == (320, 90)
    assert squashed[:, 0, 1].min() > 200 and cropped[:, 0, 1].max() < 50
    assert upright.size[0] / upright.size[1] == pytest.approx(320 / 90, rel=0.02)  # the thumbnail is not squashed
