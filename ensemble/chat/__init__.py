"""Customer service as an ensemble: intent -> entities and graph facts -> reply -> slots -> verifier -> fallback."""

from __future__ import annotations

from ensemble.chat.answer import MAX_MESSAGE_LENGTH, ChatAnswer, ChatMode, ChatRequest, MemberRun
from ensemble.chat.ensemble_intent import (
    EnsembleIntentStage,
    ServedIntent,
    ensemble_parent,
    ensemble_version_for,
    load_intent_stage,
    load_served_intent,
)
from ensemble.chat.errors import ChatError, ChatInputError, ReplyUnavailableError
from ensemble.chat.facts import extract_entities, ground_message
from ensemble.chat.intent_stage import HEAD_ONLY_REASON, HeadIntentStage, IntentStage
from ensemble.chat.local import (
    LoadedReply,
    LocalMembers,
    ReplyService,
    load_local_members,
    load_reply_service,
    verify_dict,
)
from ensemble.chat.pipeline import (
    CHECK_FAILED_REPLY,
    OUT_OF_SCOPE_REPLY,
    ChatMembers,
    answer_message,
)
from ensemble.chat.references import Reference, ReferenceIndex, load_reference_frame

__all__ = [
    "CHECK_FAILED_REPLY",
    "HEAD_ONLY_REASON",
    "MAX_MESSAGE_LENGTH",
    "OUT_OF_SCOPE_REPLY",
    "ChatAnswer",
    "ChatError",
    "ChatInputError",
    "ChatMembers",
    "ChatMode",
    "ChatRequest",
    "EnsembleIntentStage",
    "HeadIntentStage",
    "IntentStage",
    "LoadedReply",
    "LocalMembers",
    "MemberRun",
    "Reference",
    "ReferenceIndex",
    "ReplyService",
    "ReplyUnavailableError",
    "ServedIntent",
    "answer_message",
    "ensemble_parent",
    "ensemble_version_for",
    "extract_entities",
    "ground_message",
    "load_intent_stage",
    "load_local_members",
    "load_reference_frame",
    "load_reply_service",
    "load_served_intent",
    "verify_dict",
]
