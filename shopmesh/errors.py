"""Errors the command line turns into a one-line message instead of a traceback."""

from __future__ import annotations

from cluster.errors import ClusterError
from edge.export.errors import ExportError
from edge.runtime.errors import EdgeError
from ensemble.errors import ShopmeshError
from federation.errors import FederationError
from knowledge_graph.errors import KnowledgeGraphError


class CommandError(ShopmeshError):
    """A command was asked for something it cannot do (bad option values, missing prerequisites)."""


def user_errors() -> tuple[type[Exception], ...]:
    """Every package's base error: the errors raised on purpose, with messages meant for the user."""
    return (ShopmeshError, KnowledgeGraphError, FederationError, ClusterError, ExportError, EdgeError)
