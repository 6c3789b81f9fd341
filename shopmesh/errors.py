"""Errors the command line turns into a one-line message instead of a traceback."""

from __future__ import annotations

from ensemble.errors import ShopmeshError
from knowledge_graph.errors import KnowledgeGraphError


class CommandError(ShopmeshError):
    """A command was asked for something it cannot do (bad option values, missing prerequisites)."""


def user_errors() -> tuple[type[Exception], ...]:
    """Every package's base error: the errors raised on purpose, with messages meant for the user."""
    return (ShopmeshError, KnowledgeGraphError)
