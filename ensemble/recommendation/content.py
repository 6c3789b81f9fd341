"""Content member: item descriptions embedded by a sentence encoder; a user's profile is the mean embedding of
the items they bought, and an item's score is its cosine similarity to that profile.

The default encoder is the packaged all-MiniLM-L6-v2 (masked mean pooling + L2 normalisation); any object
with ``encode(texts) -> [N, H]`` can replace it. Embeddings are cached by text, so refitting on another
window does not encode the catalogue again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from transformers import AutoModel

from ensemble.members.intent import load_tokenizer, mean_pool, packaged_encoder_path
from ensemble.recommendation.base import InteractionMatrix, Scores, ScoringMember
from ensemble.recommendation.errors import MemberUnavailableError
from ensemble.recommendation.interactions import ITEM, TEXT

__all__ = ["ContentMember", "MiniLMEncoder", "TextEncoder"]

logger = logging.getLogger(__name__)


class TextEncoder(Protocol):
    """Turns texts into unit-length embeddings ``[N, H]``."""

    def encode(self, texts: Sequence[str]) -> NDArray[np.float64]: ...


class MiniLMEncoder:
    """The packaged all-MiniLM-L6-v2 (or the model directory given), loaded on first use, offline."""

    def __init__(self, path: str | None = None, batch_size: int = 128, max_length: int = 64) -> None:
        self.path = path
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: torch.nn.Module | None = None
        self._cache: dict[str, NDArray[np.float64]] = {}

    def _load(self) -> torch.nn.Module:
        if self._model is None:
            path = self.path or str(packaged_encoder_path())
            self._tokenizer = load_tokenizer(path)
            self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        return self._model

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> NDArray[np.float64]:
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            model = self._load()
            for start in range(0, len(missing), self.batch_size):
                batch = missing[start : start + self.batch_size]
                tokens = self._tokenizer(
                    batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                )
                hidden = model(**tokens).last_hidden_state  # [B, T, H]
                pooled = mean_pool(hidden, tokens["attention_mask"]).double().numpy()  # [B, H]
                self._cache.update(zip(batch, pooled, strict=True))
            logger.info("encoded %s descriptions", len(missing))
        if not texts:
            return np.zeros((0, 0))
        return np.stack([self._cache[t] for t in texts])


class ContentMember(ScoringMember):
    """Cosine between item description embeddings and the user's mean embedding (see the module docstring).

    Items without a description score 0 (they can still be recommended after every described item).
    """

    name = "content"

    def __init__(self, encoder: TextEncoder | None = None) -> None:
        self.encoder: TextEncoder = encoder if encoder is not None else MiniLMEncoder()
        self._embeddings: Scores = np.zeros((0, 0))

    def fit(self, train: pd.DataFrame, catalog: pd.DataFrame | None = None) -> None:
        if catalog is None or catalog.empty:
            raise MemberUnavailableError(
                "no catalogue with item descriptions was given; pass --catalog FILE.csv to run the content member"
            )
        super().fit(train, catalog)

    def _fit(self, matrix: InteractionMatrix, catalog: pd.DataFrame | None) -> None:
        if catalog is None:
            raise MemberUnavailableError("no catalogue with item descriptions was given")
        text = catalog.drop_duplicates(ITEM).set_index(ITEM)[TEXT].reindex(matrix.items)
        described = np.flatnonzero(text.notna().to_numpy() & (text.fillna("").str.strip() != "").to_numpy())
        if described.size == 0:
            raise MemberUnavailableError(
                f"none of the {len(matrix.items)} training items has a description in the catalogue; check that "
                "the catalogue's item ids match the interactions' item ids"
            )
        vectors = self.encoder.encode([str(t) for t in text.iloc[described]])
        embeddings = np.zeros((len(matrix.items), vectors.shape[1]))
        embeddings[described] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self._embeddings = embeddings
        logger.info("content member: %s of %s items described", described.size, len(matrix.items))

    def _profiles(self, rows: NDArray[np.int64]) -> Scores:
        binary = self.matrix.binary[rows]
        profiles = np.asarray(binary @ self._embeddings)  # B × H sums of bought items' embeddings
        norms = np.linalg.norm(profiles, axis=1, keepdims=True)
        result: Scores = profiles / np.maximum(norms, 1e-12)
        return result

    def _score_rows(self, rows: NDArray[np.int64]) -> Scores:
        scores: Scores = self._profiles(rows) @ self._embeddings.T
        return scores

    def explain(self, row: int, item: int) -> str | None:
        bought = self.matrix.bought(row)
        if bought.size == 0 or not self._embeddings[item].any():
            return None
        closeness = self._embeddings[bought] @ self._embeddings[item]
        best = int(bought[int(np.argmax(closeness))])
        return f"its description is close to {self.matrix.labels[best]}, which you bought"
