"""Model families by name: one table from a name's prefix to the factory that builds it.

``load_model`` (base.py) looks names up here, so a new family is one entry. Factories import their
module only when called: naming a model costs nothing until it embeds (or its id is asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from framefind.errors import FrameFindError
from framefind.models.base import Model

Factory = Callable[[str, dict | None], Model]  # (the name after the prefix, options) -> model


@dataclass(frozen=True)
class Family:
    """A model family: ``prefix`` is a whole name (``effnet-conse``) or ends with ``:`` (``clip:``)."""

    prefix: str
    factory: Factory
    usage: str  # how a user names one, for help and errors
    about: str


def _conse(rest: str, options: dict | None) -> Model:
    from framefind.models.conse import ConseModel

    return ConseModel(options)


def _clip(rest: str, options: dict | None) -> Model:
    from framefind.models.clip import ClipModel

    return ClipModel(rest, options)


def _siglip(rest: str, options: dict | None) -> Model:
    from framefind.models.clip import SiglipModel

    return SiglipModel(rest, options)


def _onnx(rest: str, options: dict | None) -> Model:
    from framefind.models.exported import OnnxExportModel

    return OnnxExportModel(rest, options)


FAMILIES: dict[str, Family] = {
    family.prefix: family
    for family in (
        Family("effnet-conse", _conse, "effnet-conse",
               "EfficientNet-Lite0 + ConSE labels; weights ship with framefind (default, offline)"),
        Family("clip:", _clip, "clip:NAME|DIR|HUB_ID",
               "CLIP (OpenAI, OpenCLIP/LAION) in Hugging Face format, e.g. clip:ViT-B-32"),
        Family("siglip:", _siglip, "siglip:NAME|DIR|HUB_ID",
               "SigLIP in Hugging Face format, e.g. siglip:base"),
        Family("onnx:", _onnx, "onnx:DIR",
               "an ONNX export: image.onnx, text.onnx, tokenizer.json, model.json"),
    )
}


def build_model(name: str, options: dict | None = None) -> Model:
    """The model ``name`` picks, or a one-line error that lists every family."""
    for prefix, family in FAMILIES.items():
        if prefix.endswith(":") and name.startswith(prefix):
            return family.factory(name.removeprefix(prefix), options)
        if name == prefix:
            return family.factory("", options)
    raise FrameFindError(f"unknown model {name!r} (choose {model_choices()})")


def model_choices() -> str:
    """``effnet-conse, clip:NAME|DIR|HUB_ID, ...``: for errors and ``--model`` help."""
    return ", ".join(family.usage for family in FAMILIES.values())
