"""Errors of the customer-service chain.

Every message names what was wrong, the value seen and what to do about it.
"""

from __future__ import annotations

from ensemble.errors import ShopmeshError

__all__ = ["ChatError", "ChatInputError", "ReplyUnavailableError"]


class ChatError(ShopmeshError):
    """Base class of every error the chat chain raises on purpose."""


class ChatInputError(ChatError, ValueError):
    """A message or option of a chat request is invalid (empty, too long, unknown mode)."""


class ReplyUnavailableError(ChatError):
    """No reply model is loaded; the chain answers with the retrieved reference response instead."""
