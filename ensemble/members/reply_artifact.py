"""Publishing reply models to the registry and loading them back.

A version holds the causal LM's weights (safetensors), its HF architecture config, the reply config, the
default generation settings and the tokenizer files, so it loads with nothing else at hand, whether the LM is
the default GPT-2 or a local model given with ``--reply-model``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModelForCausalLM

from ensemble.datasets import DataSplits
from ensemble.errors import ModelError
from ensemble.members.reply import MEMBER, GenerationSettings, ReplyConfig, ReplyModel
from ensemble.members.reply_tokenizer import load_reply_tokenizer
from ensemble.members.reply_training import ReplyTrainConfig, train_reply
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry, fingerprint_frame

logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"


def save_reply(
    registry: Registry,
    model: ReplyModel,
    *,
    metrics: Mapping[str, Any],
    lineage: Lineage,
    generation: GenerationSettings | None = None,
    extra_files: Mapping[str, Path] | None = None,
) -> ModelVersion:
    """Publish ``model`` as a new version of the reply member."""
    config = {
        "reply": model.config.to_dict(),
        "lm": model.lm.config.to_dict(),
        "generation": (generation or GenerationSettings()).to_dict(),
    }
    tensors = {k: v.detach().contiguous() for k, v in model.lm.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / TOKENIZER_DIR
        model.tokenizer.save_pretrained(str(tok_dir))
        files = {TOKENIZER_DIR: tok_dir, **(extra_files or {})}
        version = registry.publish(
            MEMBER, tensors=tensors, config=config, metrics=metrics, lineage=lineage, files=files
        )
    logger.info("published %s", version.id)
    return version


def train_reply_version(
    registry: Registry,
    splits: DataSplits,
    cfg: ReplyTrainConfig,
    *,
    data: str = "bitext-customer-support (bundled)",
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[ModelVersion, dict[str, float]]:
    """Train a reply model on ``splits`` (reply-token cross-entropy) and publish it with its lineage; ``on_step``
    hears the training steps."""
    model, metrics = train_reply(splits, cfg, on_step=on_step)
    columns = [c for c in ("instruction", "intent", "response") if c in splits.train.columns]
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(splits.train[columns]),
        method="central",
        details={
            "data": data,
            "split": "train",
            "trainer": "reply-token cross-entropy",
            "base_model": cfg.base_model_path,
        },
    )
    version = save_reply(registry, model, metrics=metrics, lineage=lineage, generation=cfg.generation)
    return version, metrics


def model_from_artifact(artifact: LoadedArtifact) -> ReplyModel:
    """Rebuild a :class:`ReplyModel` from a verified registry artifact, in evaluation mode."""
    try:
        lm_config: dict[str, Any] = dict(artifact.config["lm"])
        reply_config = ReplyConfig.from_dict(artifact.config["reply"])
        model_type = str(lm_config.pop("model_type"))
    except (KeyError, TypeError) as err:
        raise ModelError(
            f"{artifact.path} is not a reply artifact: config.json lacks {err}; publish it with save_reply "
            "(`shopmesh train reply`)"
        ) from err
    try:
        hf_config = AutoConfig.for_model(model_type, **lm_config)
        lm = AutoModelForCausalLM.from_config(hf_config)  # type: ignore[no-untyped-call]
    except (KeyError, ValueError) as err:
        raise ModelError(f"cannot build a {model_type!r} causal LM from {artifact.path}: {err}") from err
    try:
        lm.load_state_dict(dict(artifact.tensors))
    except RuntimeError as err:
        raise ModelError(f"weights in {artifact.path} do not fit the stored architecture: {err}") from err
    model = ReplyModel(lm, load_reply_tokenizer(artifact.path / TOKENIZER_DIR), reply_config)
    model.eval()
    return model


def artifact_generation(artifact: LoadedArtifact) -> GenerationSettings:
    """The generation settings stored with a version (defaults where it has none)."""
    stored = artifact.config.get("generation") or {}
    known = set(GenerationSettings.__dataclass_fields__)
    return GenerationSettings(**{k: v for k, v in stored.items() if k in known})


def load_reply(registry: Registry, version: str | None = None) -> tuple[ReplyModel, LoadedArtifact]:
    """Load a verified version of the reply member (the latest when ``version`` is None)."""
    artifact = registry.load(MEMBER, version)
    return model_from_artifact(artifact), artifact
