"""Publishing intent models to the registry and loading them back.

A version holds the full (LoRA-merged) weights, the encoder architecture, the label list, the fitted temperature
and the tokenizer files, so it loads with no access to the packaged encoder and exports to ONNX as it is.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ensemble.errors import ModelError
from ensemble.members.intent import MEMBER, IntentConfig, IntentModel, load_tokenizer
from ensemble.members.lora import has_lora, merge_lora
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry

logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"


def save_intent(
    registry: Registry,
    model: IntentModel,
    *,
    metrics: Mapping[str, Any],
    lineage: Lineage,
    extra_files: Mapping[str, Path] | None = None,
) -> ModelVersion:
    """Publish the model as a new version of the intent member (LoRA adapters are merged first)."""
    if has_lora(model):
        raise ModelError("merge the LoRA adapters (merge_lora) before publishing a full intent version")
    config = {
        "labels": model.labels,
        "intent": model.config.to_dict(),
        "encoder": model.encoder_config.to_dict(),
        "temperature": float(model.temperature),
    }
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / TOKENIZER_DIR
        model.tokenizer.save_pretrained(str(tok_dir))
        files = {TOKENIZER_DIR: tok_dir, **(extra_files or {})}
        version = registry.publish(
            MEMBER, tensors=tensors, config=config, metrics=metrics, lineage=lineage, files=files
        )
    logger.info("published %s", version.id)
    return version


def model_from_artifact(artifact: LoadedArtifact) -> IntentModel:
    """Rebuild an :class:`IntentModel` from a verified registry artifact."""
    config = artifact.config
    try:
        labels = list(config["labels"])
        encoder_cfg = dict(config["encoder"])
        intent_cfg = IntentConfig.from_dict(config["intent"])
    except (KeyError, TypeError) as err:
        raise ModelError(
            f"{artifact.path} is not an intent artifact: config.json lacks {err}; "
            "publish it with `shopmesh train intent`"
        ) from err
    tokenizer = load_tokenizer(artifact.path / TOKENIZER_DIR)
    model = IntentModel.from_encoder_config(labels, encoder_cfg, tokenizer, intent_cfg)
    try:
        model.load_state_dict(dict(artifact.tensors))
    except RuntimeError as err:
        raise ModelError(f"weights in {artifact.path} do not fit the stored architecture: {err}") from err
    model.eval()
    return model


def load_intent(registry: Registry, version: str | None = None) -> tuple[IntentModel, LoadedArtifact]:
    """Load a verified version (the latest when ``version`` is None)."""
    artifact = registry.load(MEMBER, version)
    return model_from_artifact(artifact), artifact


def publishable(model: IntentModel) -> IntentModel:
    """The model ready for :func:`save_intent`: adapters merged, evaluation mode."""
    merged = merge_lora(model)
    merged.eval()
    return merged
