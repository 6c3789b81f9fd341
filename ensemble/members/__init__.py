"""Ensemble members: each one a model family with its own training, evaluation and registry format."""

from __future__ import annotations

from ensemble.members.intent import (
    IntentConfig,
    IntentModel,
    IntentPrediction,
    encode,
    packaged_encoder_path,
    predict,
    predict_proba,
)
from ensemble.members.intent_artifact import load_intent, save_intent
from ensemble.members.lora import adapter_state, apply_lora, load_adapter_state, merge_lora
from ensemble.members.reply import GenerationSettings, ReplyConfig, ReplyModel, format_prompt
from ensemble.members.reply_artifact import load_reply, save_reply
from ensemble.members.reply_rouge import RougeL, rouge_l
from ensemble.members.reply_slots import FilledReply, entity_slot_values, fill_slots
from ensemble.members.reply_tokenizer import train_reply_tokenizer
from ensemble.members.reply_training import ReplyTrainConfig, evaluate_reply, train_reply

__all__ = [
    "FilledReply",
    "GenerationSettings",
    "IntentConfig",
    "IntentModel",
    "IntentPrediction",
    "ReplyConfig",
    "ReplyModel",
    "ReplyTrainConfig",
    "RougeL",
    "adapter_state",
    "apply_lora",
    "encode",
    "entity_slot_values",
    "evaluate_reply",
    "fill_slots",
    "format_prompt",
    "load_adapter_state",
    "load_intent",
    "load_reply",
    "merge_lora",
    "packaged_encoder_path",
    "predict",
    "predict_proba",
    "rouge_l",
    "save_intent",
    "save_reply",
    "train_reply",
    "train_reply_tokenizer",
]
