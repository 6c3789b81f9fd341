"""Collaborative member: matrix factorisation trained with Bayesian personalised ranking (BPR) in torch.

For a user ``u``, a bought item ``i`` and a sampled item ``j`` the loss is
``-log σ(x_ui - x_uj) + λ (|p_u|² + |q_i|² + |q_j|²)`` with ``x_ui = p_u · q_i + b_i``; negatives are drawn
uniformly from the items the user did not buy (re-drawn a few times when they hit a bought one). The seed
fixes initialisation and sampling.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from ensemble.recommendation.base import InteractionMatrix, Scores, ScoringMember

__all__ = ["BPRConfig", "BPRMember"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BPRConfig:
    """Training settings. ``max_seconds`` optionally stops training after the epoch that passes it (results
    then depend on machine speed; the default ``None`` keeps every run identical for a seed)."""

    dim: int = 64
    epochs: int = 30
    batch_size: int = 4096
    learning_rate: float = 0.01
    l2: float = 1e-5
    seed: int = 0
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.dim < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"dim, epochs and batch_size must be >= 1, got {self.dim}, {self.epochs}, {self.batch_size}"
            )
        if self.learning_rate <= 0 or self.l2 < 0 or (self.max_seconds is not None and self.max_seconds <= 0):
            raise ValueError(
                f"learning_rate and max_seconds must be > 0 and l2 >= 0, got {self.learning_rate}, "
                f"{self.max_seconds}, {self.l2}"
            )


class _Factors(nn.Module):
    """User and item factors plus an item bias."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)  # [U, D]
        self.items = nn.Embedding(n_items, dim)  # [I, D]
        self.bias = nn.Embedding(n_items, 1)  # [I, 1]
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.items.weight, std=0.1)
        nn.init.zeros_(self.bias.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores [B] of the pairs (users[b], items[b])."""
        scores: torch.Tensor = (self.users(users) * self.items(items)).sum(-1) + self.bias(items).squeeze(-1)
        return scores


class BPRMember(ScoringMember):
    """BPR matrix factorisation (see the module docstring)."""

    name = "bpr"

    def __init__(self, config: BPRConfig | None = None) -> None:
        self.config = config or BPRConfig()
        self._user_factors: Scores = np.zeros((0, 0))
        self._item_factors: Scores = np.zeros((0, 0))
        self._item_bias: Scores = np.zeros(0)

    def _fit(self, matrix: InteractionMatrix, catalog: pd.DataFrame | None) -> None:
        cfg = self.config
        coo = matrix.binary.tocoo()
        users = torch.as_tensor(coo.row, dtype=torch.int64)
        positives = torch.as_tensor(coo.col, dtype=torch.int64)
        n_users, n_items = matrix.binary.shape
        bought = np.unique(coo.row.astype(np.int64) * n_items + coo.col)  # sorted keys user * I + item
        generator = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        model = _Factors(n_users, n_items, cfg.dim)
        optimiser = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
        started = time.perf_counter()
        loss_value = float("nan")
        for epoch in range(cfg.epochs):
            order = torch.randperm(len(users), generator=generator)
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                u, i = users[batch], positives[batch]
                j = self._negatives(u, n_items, bought, generator)
                optimiser.zero_grad()
                margin = model(u, i) - model(u, j)
                l2 = (model.users(u).pow(2).sum() + model.items(i).pow(2).sum() + model.items(j).pow(2).sum()) / len(
                    batch
                )
                loss = -nn.functional.logsigmoid(margin).mean() + cfg.l2 * l2
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            loss_value = total / max(len(order), 1)
            if cfg.max_seconds is not None and time.perf_counter() - started > cfg.max_seconds:
                logger.warning(
                    "BPR stopped after epoch %s of %s: time budget %.0f s", epoch + 1, cfg.epochs, cfg.max_seconds
                )
                break
        logger.info("BPR trained in %.1f s, final loss %.4f", time.perf_counter() - started, loss_value)
        with torch.no_grad():
            self._user_factors = model.users.weight.double().numpy().copy()
            self._item_factors = model.items.weight.double().numpy().copy()
            self._item_bias = model.bias.weight.double().squeeze(-1).numpy().copy()

    @staticmethod
    def _negatives(
        users: torch.Tensor, n_items: int, bought: NDArray[np.int64], generator: torch.Generator
    ) -> torch.Tensor:
        """Uniform items, re-drawn up to three times where the user bought them (``bought``: sorted keys
        ``user * n_items + item``)."""
        negatives = torch.randint(n_items, (len(users),), generator=generator)
        for _ in range(3):
            keys = users.numpy() * n_items + negatives.numpy()
            found = np.minimum(np.searchsorted(bought, keys), len(bought) - 1)
            clash = torch.from_numpy(bought[found] == keys)
            if not clash.any():
                break
            negatives[clash] = torch.randint(n_items, (int(clash.sum()),), generator=generator)
        return negatives

    def _score_rows(self, rows: NDArray[np.int64]) -> Scores:
        scores: Scores = self._user_factors[rows] @ self._item_factors.T + self._item_bias
        return scores
