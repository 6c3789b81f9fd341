"""A global neural forecaster: one MLP trained on all series jointly, direct multi-horizon P10/P50/P90 output
trained with the pinball loss and early-stopped on a validation window.

Quantiles cannot cross: the network outputs the median and two non-negative offsets (softplus) below and
above it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from ensemble.errors import ModelError
from ensemble.forecasting.windows import WindowBatch

__all__ = ["QUANTILES", "NeuralConfig", "NeuralForecaster", "QuantileMLP"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class NeuralConfig:
    """Hyper-parameters of the global forecaster (tune them on the validation window only)."""

    input_window: int = 16
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 300
    patience: int = 25
    seed: int = 0


class QuantileMLP(nn.Module):
    """features (B, F) -> quantiles (B, h, 3) ordered P10 <= P50 <= P90."""

    def __init__(self, n_features: int, horizon: int, config: NeuralConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_features
        for _ in range(config.layers):
            blocks += [nn.Linear(width, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = config.hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 3 * horizon)
        self.horizon = horizon

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        raw = self.head(self.body(features)).view(-1, self.horizon, 3)  # (B, h, 3)
        median = raw[..., 1]
        lower = median - nn.functional.softplus(raw[..., 0])
        upper = median + nn.functional.softplus(raw[..., 2])
        return torch.stack([lower, median, upper], dim=-1)


def _pinball(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss over P10/P50/P90: prediction (B, h, 3), target (B, h)."""
    levels = torch.tensor(QUANTILES, dtype=prediction.dtype)
    diff = target.unsqueeze(-1) - prediction
    return torch.maximum(levels * diff, (levels - 1.0) * diff).mean()


class NeuralForecaster:
    """Fit on training windows with early stopping on validation windows; predict quantiles in the original
    units (features are standardised with statistics of the training windows)."""

    def __init__(self, horizon: int, config: NeuralConfig | None = None) -> None:
        self.horizon = horizon
        self.config = config or NeuralConfig()
        self._model: QuantileMLP | None = None
        self._mean: FloatArray | None = None
        self._std: FloatArray | None = None
        self.best_epoch = 0
        self.best_validation_loss = float("nan")
        self.training_seconds = 0.0

    def _standardise(self, features: FloatArray) -> torch.Tensor:
        if self._mean is None or self._std is None:
            raise ModelError("the neural forecaster is not fitted; call fit() before predict()")
        return torch.as_tensor((features - self._mean) / self._std, dtype=torch.float32)

    def fit(self, train: WindowBatch, validation: WindowBatch) -> NeuralForecaster:
        """Train with AdamW on the pinball loss; keep the weights of the epoch with the lowest validation
        loss and stop after ``patience`` epochs without improvement."""
        if len(train.features) == 0 or len(validation.features) == 0:
            raise ModelError(
                f"need training and validation windows; got {len(train.features)} and "
                f"{len(validation.features)}. "
                "Use longer series or a shorter input window."
            )
        started = time.perf_counter()
        config = self.config
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        self._mean = train.features.mean(axis=0)
        std = train.features.std(axis=0)
        self._std = np.where(std > 1e-8, std, 1.0)
        x_train = self._standardise(train.features)
        y_train = torch.as_tensor(train.targets, dtype=torch.float32)
        x_val = self._standardise(validation.features)
        y_val = torch.as_tensor(validation.targets, dtype=torch.float32)
        model = QuantileMLP(x_train.shape[1], self.horizon, config)
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
        best_loss, best_epoch = float("inf"), 0
        for epoch in range(1, config.max_epochs + 1):
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                optimiser.zero_grad()
                loss = _pinball(model(x_train[batch]), y_train[batch])
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
            model.eval()
            with torch.no_grad():
                val_loss = float(_pinball(model(x_val), y_val))
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch = val_loss, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            elif epoch - best_epoch >= config.patience:
                break
        model.load_state_dict(best_state)
        model.eval()
        self._model = model
        self.best_epoch, self.best_validation_loss = best_epoch, best_loss
        self.training_seconds = time.perf_counter() - started
        logger.info(
            "neural forecaster: best epoch %s, validation pinball %.4f, %.1f s",
            best_epoch,
            best_loss,
            self.training_seconds,
        )
        return self

    def predict(self, windows: WindowBatch) -> FloatArray:
        """Quantiles in original units, shape (N, h, 3) for P10, P50, P90."""
        if self._model is None:
            raise ModelError("the neural forecaster is not fitted; call fit() before predict()")
        with torch.no_grad():
            scaled = self._model(self._standardise(windows.features)).numpy().astype(float)
        return np.asarray(scaled * windows.scales[:, None, None], dtype=np.float64)
