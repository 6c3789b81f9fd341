"""Similar products and text -> photo search in the image embedding space.

Image side: L2-normalised pooled backbone features, searched by cosine similarity (numpy; a few thousand photos).
Text side: class texts embedded with the packaged all-MiniLM-L6-v2, mapped into the image space by a ridge
projection learned on the catalogue pairs (each training photo paired with its class text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import BertModel

from ensemble.errors import ModelError
from ensemble.members.intent import load_tokenizer, mean_pool, packaged_encoder_path

__all__ = [
    "ImageIndex",
    "TextProjection",
    "embed_texts",
    "fit_text_projection",
    "normalise_rows",
    "recall_at_k",
    "text_to_image_hit_at_k",
]

FloatArray = NDArray[np.float32]


def normalise_rows(vectors: NDArray[np.floating]) -> FloatArray:
    """Rows scaled to unit length: [N, D] -> [N, D]."""
    array = np.asarray(vectors, dtype=np.float32)
    unit: FloatArray = array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
    return unit


@torch.no_grad()
def embed_texts(texts: Sequence[str], *, batch_size: int = 32) -> FloatArray:
    """MiniLM sentence embeddings (mean pooled, unit length): N texts -> [N, 384]."""
    path = packaged_encoder_path()
    try:
        encoder = BertModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load the packaged MiniLM encoder from {path}: {err}") from err
    tokenizer = load_tokenizer(path)
    encoder.eval()  # type: ignore[no-untyped-call]
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]), padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        hidden = encoder(**batch).last_hidden_state  # [b, T, 384]
        out.append(mean_pool(hidden, batch["attention_mask"]).numpy())
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class TextProjection:
    """Text [N, 384] -> image space [N, 1280]: ``[text, 1] @ weight``, then unit length."""

    weight: FloatArray  # [385, 1280]
    alpha: float

    def __call__(self, text: NDArray[np.floating]) -> FloatArray:
        with_bias = np.hstack([np.asarray(text, dtype=np.float32), np.ones((len(text), 1), dtype=np.float32)])
        return normalise_rows(with_bias @ self.weight)


def fit_text_projection(text: NDArray[np.floating], image: NDArray[np.floating], alpha: float) -> TextProjection:
    """Ridge regression of image embeddings on paired text embeddings (closed form; the bias is not penalised).

    ``text`` [N, 384] and ``image`` [N, 1280] are paired row by row.
    """
    x = np.hstack([np.asarray(text, dtype=np.float64), np.ones((len(text), 1))])  # [N, 385]
    penalty = alpha * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    weight = np.linalg.solve(x.T @ x + penalty, x.T @ np.asarray(image, dtype=np.float64))  # [385, 1280]
    return TextProjection(weight.astype(np.float32), alpha)


@dataclass(frozen=True)
class ImageIndex:
    """Unit-length photo embeddings [N, D] with their fine class [N], searched by cosine similarity."""

    embeddings: FloatArray
    labels: NDArray[np.int64]

    def search(self, queries: NDArray[np.floating], k: int) -> tuple[NDArray[np.int64], FloatArray]:
        """The ``k`` nearest photos of each query: indices [Q, k] and cosine scores [Q, k], best first."""
        scores = normalise_rows(queries) @ self.embeddings.T  # [Q, N]
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [Q, k] unordered
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        return top.astype(np.int64), np.take_along_axis(scores, top, axis=1)


def recall_at_k(scores: NDArray[np.floating], labels: NDArray[np.integer], k: int) -> float:
    """Share of queries whose true item is among the ``k`` best of its row: scores [Q, C], labels [Q]."""
    top = np.argsort(-np.asarray(scores), axis=1)[:, :k]
    return float(np.mean([int(label) in row for row, label in zip(top, labels, strict=True)]))


def text_to_image_hit_at_k(scores: NDArray[np.floating], labels: NDArray[np.integer], k: int) -> tuple[float, float]:
    """Text -> photo search, ``scores`` [C, N] of class texts against photos with ``labels`` [N].

    Returns (recall@k: share of class texts with a photo of that class among its k best photos,
    precision@k: share of the k best photos that are of the text's class), over classes that have photos.
    """
    labels = np.asarray(labels)
    hits, precisions = [], []
    for cls, row in enumerate(np.asarray(scores)):
        if not (labels == cls).any():
            continue
        top = np.argsort(-row)[:k]
        correct = labels[top] == cls
        hits.append(bool(correct.any()))
        precisions.append(float(correct.mean()))
    return float(np.mean(hits)), float(np.mean(precisions))
