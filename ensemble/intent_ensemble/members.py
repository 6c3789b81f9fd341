"""The members of the intent ensemble and the one encoder they share.

Every member maps sentence embeddings [N, H] (masked mean pooling + L2 normalisation of the intent version's
encoder) to class probabilities [N, C] over the same label list. The encoder runs once per request
(:class:`SharedEncoder`); :meth:`Member.proba_from_embeddings` feeds each member that one result, and
:meth:`Member.predict_proba` is the stand-alone path that embeds first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.special import softmax

from ensemble.intent_ensemble.errors import IntentEnsembleError
from ensemble.members.intent import IntentModel, encode

__all__ = ["HeadMember", "KnnMember", "LogRegMember", "Member", "SharedEncoder"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


class SharedEncoder:
    """The intent version's encoder: texts -> L2-normalised sentence embeddings [N, H] (float64)."""

    def __init__(self, model: IntentModel, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.encoder_config.hidden_size)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        return encode(self.model, list(texts), batch_size=self.batch_size).numpy().astype(np.float64)


class Member(Protocol):
    """What the ensemble needs from a member."""

    name: str
    labels: list[str]

    def proba_from_embeddings(self, embeddings: FloatArray) -> FloatArray: ...

    def predict_proba(self, texts: Sequence[str]) -> FloatArray: ...


def _check_embeddings(embeddings: FloatArray, dim: int, name: str) -> None:
    if embeddings.ndim != 2 or embeddings.shape[1] != dim:
        raise IntentEnsembleError(
            f"member {name!r} expects embeddings of shape [N, {dim}], got {list(embeddings.shape)}; "
            "embed the texts with the encoder of the intent version the ensemble was built on"
        )


class HeadMember:
    """The registry's calibrated linear head of the intent version (temperature included)."""

    name = "head"

    def __init__(self, model: IntentModel, encoder: SharedEncoder) -> None:
        self.model = model
        self.encoder = encoder
        self.labels = list(model.labels)

    @torch.no_grad()
    def proba_from_embeddings(self, embeddings: FloatArray) -> FloatArray:
        _check_embeddings(embeddings, self.encoder.dim, self.name)
        self.model.eval()
        features = torch.from_numpy(embeddings).to(torch.float32)  # [N, H]
        logits = self.model.classify(features)  # [N, C], already divided by the temperature
        return torch.softmax(logits, dim=-1).numpy().astype(np.float64)

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return self.proba_from_embeddings(self.encoder.embed(texts))


class KnnMember:
    """Cosine k-nearest neighbours over the training utterances' embeddings.

    The k most similar training rows vote for their labels with their cosine similarity as weight; votes are
    normalised to sum to one per query and turned into probabilities by ``softmax(votes / temperature)``, with
    the temperature fitted on validation.
    """

    name = "knn"

    def __init__(
        self,
        index: FloatArray,
        index_labels: NDArray[np.int64],
        labels: Sequence[str],
        encoder: SharedEncoder | None,
        *,
        k: int = 10,
        temperature: float = 1.0,
    ) -> None:
        if index.ndim != 2 or len(index) != len(index_labels):
            raise IntentEnsembleError(
                f"kNN index of shape {list(index.shape)} does not pair with {len(index_labels)} labels"
            )
        if k < 1 or k > len(index):
            raise IntentEnsembleError(f"k must lie in [1, {len(index)}] (the index size), got {k}")
        if index_labels.size and (index_labels.min() < 0 or index_labels.max() >= len(labels)):
            raise IntentEnsembleError(f"kNN label ids must lie in [0, {len(labels)}), got {index_labels.max()}")
        self.index = index
        self.index_labels = index_labels
        self.labels = list(labels)
        self.encoder = encoder
        self.k = k
        self.temperature = temperature

    def neighbours(self, embeddings: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
        """Cosine similarities [N, k] (descending) and index rows [N, k] of the k nearest neighbours."""
        _check_embeddings(embeddings, self.index.shape[1], self.name)
        sims = embeddings @ self.index.T  # [N, M]; both sides are L2-normalised
        top = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]  # [N, k], unordered
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        return np.take_along_axis(top_sims, order, axis=1), np.take_along_axis(top, order, axis=1)

    def votes(self, sims: FloatArray, rows: NDArray[np.int64]) -> FloatArray:
        """Similarity-weighted label votes [N, C], each row summing to one."""
        weights = np.clip(sims, 1e-6, None)  # [N, k]
        votes = np.zeros((len(sims), len(self.labels)))
        np.add.at(votes, (np.arange(len(sims))[:, None], self.index_labels[rows]), weights)
        total: FloatArray = votes / votes.sum(axis=1, keepdims=True)
        return total

    def proba_from_neighbours(self, sims: FloatArray, rows: NDArray[np.int64]) -> FloatArray:
        probs: FloatArray = softmax(self.votes(sims, rows) / self.temperature, axis=1)
        return probs

    def proba_from_embeddings(self, embeddings: FloatArray) -> FloatArray:
        return self.proba_from_neighbours(*self.neighbours(embeddings))

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        if self.encoder is None:
            raise IntentEnsembleError("this kNN member has no encoder; call proba_from_embeddings instead")
        return self.proba_from_embeddings(self.encoder.embed(texts))


class LogRegMember:
    """Frozen embeddings + multinomial logistic regression (sklearn), stored as coefficients and intercepts.

    ``softmax(embeddings @ coef.T + intercept)`` equals sklearn's ``predict_proba`` for the multinomial model.
    """

    name = "logreg"

    def __init__(
        self, coef: FloatArray, intercept: FloatArray, labels: Sequence[str], encoder: SharedEncoder | None
    ) -> None:
        if coef.ndim != 2 or coef.shape[0] != len(labels) or intercept.shape != (len(labels),):
            raise IntentEnsembleError(
                f"logistic regression coefficients of shape {list(coef.shape)} do not fit {len(labels)} labels"
            )
        self.coef = coef  # [C, H]
        self.intercept = intercept  # [C]
        self.labels = list(labels)
        self.encoder = encoder

    def logits(self, embeddings: FloatArray) -> FloatArray:
        _check_embeddings(embeddings, self.coef.shape[1], self.name)
        result: FloatArray = embeddings @ self.coef.T + self.intercept  # [N, C]
        return result

    def proba_from_embeddings(self, embeddings: FloatArray) -> FloatArray:
        probs: FloatArray = softmax(self.logits(embeddings), axis=1)
        return probs

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        if self.encoder is None:
            raise IntentEnsembleError("this logistic-regression member has no encoder; call proba_from_embeddings")
        return self.proba_from_embeddings(self.encoder.embed(texts))
