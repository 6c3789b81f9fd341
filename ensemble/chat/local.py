"""The chain's members in one process: loaded models behind the :class:`ChatMembers` calls.

:class:`LocalMembers` is what ``shopmesh chat`` uses, and what the cluster's deployments hold one part of
each. :func:`load_local_members` assembles it from a registry, a saved graph and the reference data: the
latest intent version (with the intent ensemble built on it, if any), the latest reply version (or a local HF
causal LM given by path, or none: then every answer is the reference response), and the reference index over
the training split.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ensemble.chat.answer import ChatAnswer, ChatMode, ChatRequest
from ensemble.chat.ensemble_intent import load_intent_stage
from ensemble.chat.facts import ground_message
from ensemble.chat.intent_stage import IntentStage
from ensemble.chat.pipeline import answer_message
from ensemble.chat.references import ReferenceIndex
from ensemble.errors import VersionNotFoundError
from ensemble.members.reply import MEMBER as REPLY_MEMBER_NAME
from ensemble.members.reply import GenerationSettings, ReplyModel
from ensemble.members.reply_artifact import artifact_generation, load_reply
from ensemble.registry import Registry
from knowledge_graph.graph import ProductGraph
from knowledge_graph.grounding import GroundingContext, verify

__all__ = [
    "LoadedReply",
    "LocalMembers",
    "ReplyService",
    "load_local_members",
    "load_reply_service",
    "verify_dict",
]

logger = logging.getLogger(__name__)

NO_REPLY_MODEL = "no reply model loaded (train one with `shopmesh train reply`); answered by retrieval"


@dataclass(frozen=True)
class LoadedReply:
    """A reply model with the version (or path) it came from and its generation settings."""

    model: ReplyModel
    version: str
    generation: GenerationSettings


class ReplyService:
    """Batched reply generation (when a model is loaded) and reference retrieval."""

    def __init__(self, reply: LoadedReply | None, references: ReferenceIndex) -> None:
        self.reply = reply
        self.references = references

    def generate(self, prompts: Sequence[str]) -> list[dict[str, Any]]:
        """``{"text", "version"}`` per prompt; ``text`` None with a ``reason`` when no model is loaded."""
        if self.reply is None:
            return [{"text": None, "version": None, "reason": NO_REPLY_MODEL} for _ in prompts]
        texts = self.reply.model.generate(list(prompts), self.reply.generation)
        return [{"text": t, "version": self.reply.version} for t in texts]

    def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        ref = self.references.nearest(text, intent)
        return {"response": ref.response, "intent": ref.intent, "row": ref.row, "similarity": ref.similarity}

    def status(self) -> dict[str, Any]:
        """Which reply model is loaded (None: retrieval only) and how many references are indexed."""
        return {
            "version": self.reply.version if self.reply else None,
            "generation": self.reply.generation.to_dict() if self.reply else None,
            "mode": "generate" if self.reply else "retrieval_only",
            "references": len(self.references),
        }


def verify_dict(
    graph: ProductGraph, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: Sequence[str]
) -> dict[str, Any]:
    """The grounding report of ``reply`` as a JSON-ready dict."""
    context = GroundingContext(graph, customer_id, invoice_no, tuple(stock_codes))
    return verify(reply, context).to_dict()


class LocalMembers:
    """:class:`ChatMembers` over objects in this process; calls run in worker threads."""

    def __init__(self, intent: IntentStage, graph: ProductGraph, replies: ReplyService) -> None:
        self.intent = intent
        self.graph = graph
        self.replies = replies

    async def classify(self, text: str, mode: ChatMode) -> dict[str, Any]:
        decisions = await asyncio.to_thread(self.intent.decide, [text], mode)
        return decisions[0]

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        return await asyncio.to_thread(ground_message, self.graph, text, order_id, customer_id)

    async def reply(self, prompt: str) -> dict[str, Any]:
        results = await asyncio.to_thread(self.replies.generate, [prompt])
        return results[0]

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        return await asyncio.to_thread(verify_dict, self.graph, reply, customer_id, invoice_no, stock_codes)

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        return await asyncio.to_thread(self.replies.reference, text, intent)

    def answer(self, request: ChatRequest) -> ChatAnswer:
        """Answer one message synchronously (for the CLI and scripts)."""
        return asyncio.run(answer_message(request, self))


def load_reply_service(
    registry: Registry,
    references: pd.DataFrame,
    reply_version: str | None = None,
    reply_model_path: Path | None = None,
    generation: GenerationSettings | None = None,
) -> ReplyService:
    """The reply model of ``reply_model_path`` if given, else the registry's version, else none."""
    loaded: LoadedReply | None = None
    if reply_model_path is not None:
        model = ReplyModel.from_local(reply_model_path)
        loaded = LoadedReply(model, str(reply_model_path), generation or GenerationSettings())
    else:
        try:
            model, artifact = load_reply(registry, reply_version)
        except VersionNotFoundError:
            if reply_version is not None:
                raise
            logger.warning("no %s version in %s; replies come from retrieval", REPLY_MEMBER_NAME, registry.root)
        else:
            loaded = LoadedReply(model, artifact.version.id, generation or artifact_generation(artifact))
    return ReplyService(loaded, ReferenceIndex.from_frame(references))


def load_local_members(
    registry: Registry,
    graph: ProductGraph,
    references: pd.DataFrame,
    *,
    intent_version: str | None = None,
    reply_version: str | None = None,
    reply_model_path: Path | None = None,
    generation: GenerationSettings | None = None,
) -> LocalMembers:
    """Every member of the chain loaded in this process; the intent stage is the ensemble built on the intent
    version when the registry holds one, else the intent head alone (:func:`load_intent_stage`)."""
    stage = load_intent_stage(registry, intent_version)
    replies = load_reply_service(registry, references, reply_version, reply_model_path, generation)
    return LocalMembers(stage, graph, replies)
