"""LoRA adapters for the intent member (peft).

The adapter set that travels between merchants and the server is the LoRA matrices of the encoder plus the
classification head (peft's ``modules_to_save`` idea): both are small, and the frozen encoder never moves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

from ensemble.errors import ModelError
from ensemble.members.intent import IntentModel

logger = logging.getLogger(__name__)

HEAD_PREFIX = "head."
LORA_PREFIX = "lora."


def has_lora(model: IntentModel) -> bool:
    return isinstance(model.encoder, PeftModel)


def apply_lora(model: IntentModel) -> IntentModel:
    """Wrap the encoder with LoRA adapters; only the adapters and the head stay trainable."""
    if has_lora(model):
        return model
    cfg = model.config
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
        bias="none",
    )
    model.encoder = get_peft_model(model.encoder, lora)
    for param in model.head.parameters():
        param.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("LoRA r=%d on %s: %d of %d parameters trainable", cfg.lora_r, cfg.lora_targets, trainable, total)
    return model


def adapter_state(model: IntentModel) -> dict[str, torch.Tensor]:
    """The tensors that travel: LoRA matrices and the head, detached copies keyed by stable names."""
    if not has_lora(model):
        raise ModelError("the intent model has no LoRA adapters; call apply_lora(model) first")
    lora = get_peft_model_state_dict(model.encoder)
    state = {LORA_PREFIX + k: v.detach().clone() for k, v in lora.items()}
    state.update({HEAD_PREFIX + k: v.detach().clone() for k, v in model.head.state_dict().items()})
    return state


def load_adapter_state(model: IntentModel, state: Mapping[str, torch.Tensor]) -> None:
    """Load adapter tensors produced by :func:`adapter_state` (same architecture and labels)."""
    if not has_lora(model):
        raise ModelError("the intent model has no LoRA adapters; call apply_lora(model) first")
    expected = set(adapter_state(model))
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelError(
            f"adapter tensors do not match this model: missing {missing[:3]}, unexpected {unexpected[:3]}; "
            "were they made for the same base version and LoRA config?"
        )
    lora = {k.removeprefix(LORA_PREFIX): v for k, v in state.items() if k.startswith(LORA_PREFIX)}
    head = {k.removeprefix(HEAD_PREFIX): v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
    set_peft_model_state_dict(model.encoder, lora)
    model.head.load_state_dict(head)


def merge_lora(model: IntentModel) -> IntentModel:
    """Fold the adapters into the encoder weights so serving and export see a plain BERT model."""
    if has_lora(model):
        encoder = model.encoder
        if not isinstance(encoder, PeftModel):
            raise ModelError("unexpected encoder type while merging LoRA adapters")
        model.encoder = encoder.merge_and_unload()
    return model
