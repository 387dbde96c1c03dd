"""The ``tokenizers`` tokenizer an ONNX export runs with, made from a checkpoint's own tokenizer files.

framefind tokenizes with the ``tokenizers`` library alone (no transformers at query time), so the
checkpoint's tokenizer is saved as one ``tokenizer.json`` with padding and truncation built in:

- CLIP: its fast (byte-level BPE) tokenizer, padded to the longest text of a batch, cut at the
  position-embedding limit with the end token kept.
- SigLIP: padded to exactly ``max_tokens`` (64), as it was trained; its graph reads the padding too.
  SigLIP's own tokenizer is SentencePiece (``spiece.model``), which ``transformers`` 5 runs only
  through the ``sentencepiece`` package and has no fast conversion for, because SigLIP lower-cases
  and strips punctuation before tokenizing. So the SentencePiece model is read here with protobuf
  and rebuilt as a ``tokenizers`` Unigram model with that same canonicalisation in front; the tests
  compare it with ``SiglipTokenizer`` token for token. A checkpoint that ships a ``tokenizer.json``
  (SigLIP 2's Gemma tokenizer) uses that, lower-cased as SigLIP 2 was trained.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

from framefind.errors import FrameFindError


def export_tokenizer(family: str, checkpoint: Path, max_tokens: int):
    """A ``tokenizers.Tokenizer`` for ``family``'s checkpoint, padding and truncation enabled."""
    if family == "siglip" and (checkpoint / "spiece.model").is_file() and not (checkpoint / "tokenizer.json").is_file():
        return siglip_sentencepiece(checkpoint, max_tokens)
    from tokenizers import normalizers
    from transformers import AutoTokenizer

    try:
        loaded = AutoTokenizer.from_pretrained(str(checkpoint))
        backend = loaded.backend_tokenizer
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise FrameFindError(f"{checkpoint}: no usable tokenizer ({_first_line(exc)})") from None
    pad_id = loaded.pad_token_id if loaded.pad_token_id is not None else loaded.eos_token_id
    pad = {"pad_id": pad_id, "pad_token": loaded.convert_ids_to_tokens(pad_id),
           "direction": getattr(loaded, "padding_side", "right")}
    backend.enable_truncation(max_tokens)  # position embeddings end here; the end token is kept
    if family == "siglip":
        lower = normalizers.Lowercase()
        backend.normalizer = normalizers.Sequence([lower, backend.normalizer]) if backend.normalizer else lower
        backend.enable_padding(length=max_tokens, **pad)
    else:
        backend.enable_padding(**pad)
    return backend


def siglip_sentencepiece(checkpoint: Path, max_tokens: int):
    """SigLIP's ``spiece.model`` as a ``tokenizers`` Unigram model that tokenizes as ``SiglipTokenizer``:
    canonicalised text (lower-cased, ASCII punctuation removed, spaces collapsed), the model's own
    normalisation, a word-start marker before every word, the end token appended, padded to ``max_tokens``."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString((checkpoint / "spiece.model").read_bytes())
    pieces = [piece.piece for piece in proto.pieces]
    config = _tokenizer_config(checkpoint)
    eos, pad, unk = (_token(config, key, default) for key, default in
                     (("eos_token", "</s>"), ("pad_token", "</s>"), ("unk_token", "<unk>")))
    missing = [token for token in (eos, pad, unk) if token not in pieces]
    if missing:
        raise FrameFindError(f"{checkpoint}: spiece.model lacks the special token(s) {', '.join(missing)}")
    tokenizer = Tokenizer(Unigram([(piece.piece, piece.score) for piece in proto.pieces], unk_id=pieces.index(unk),
                                  byte_fallback=proto.trainer_spec.byte_fallback))
    steps = [normalizers.Lowercase()] if config.get("do_lower_case", True) else []
    steps += [normalizers.Replace(Regex(f"[{re.escape(string.punctuation)}]"), ""),
              normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    if proto.normalizer_spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    end = [(eos, pieces.index(eos))]
    tokenizer.post_processor = processors.TemplateProcessing(single=["$A", eos], special_tokens=end)
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding(length=max_tokens, pad_id=pieces.index(pad), pad_token=pad)
    return tokenizer


def _tokenizer_config(checkpoint: Path) -> dict:
    try:
        return json.loads((checkpoint / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return {}


def _token(config: dict, key: str, default: str) -> str:
    value = config.get(key) or default
    return str(value["content"] if isinstance(value, dict) else value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
