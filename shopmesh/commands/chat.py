"""``shopmesh chat "..."``: answer one message through the customer-service chain in this process (no Ray)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ensemble.chat import ChatMode, ChatRequest, load_local_members, load_reference_frame
from ensemble.registry import Registry
from knowledge_graph.graph import ProductGraph
from shopmesh.config import Workspace
from shopmesh.errors import CommandError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "chat",
        help="answer one customer message (intent, graph facts, verified reply) and print JSON",
    )
    parser.add_argument("text", help="the customer's message")
    parser.add_argument("--mode", choices=[m.value for m in ChatMode], default=ChatMode.SERIAL.value)
    parser.add_argument("--customer-id", type=int, default=None, help="the customer writing, if known")
    parser.add_argument("--order-id", default=None, help="the invoice number the message is about")
    parser.add_argument("--intent-version", default=None, help="intent version (default: latest)")
    parser.add_argument("--reply-version", default=None, help="reply version (default: latest, if any)")
    parser.add_argument(
        "--reply-model", type=Path, default=None, help="a local HF causal-LM directory to write replies"
    )
    parser.add_argument(
        "--reference-data",
        type=Path,
        default=None,
        help="CSV with instruction,intent,response for the fallback (default: bundled Bitext train split)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workspace: Workspace = args.workspace
    request = ChatRequest(
        text=args.text, mode=ChatMode(args.mode), customer_id=args.customer_id, order_id=args.order_id
    )
    if not workspace.graph.exists():
        raise CommandError(f"no knowledge graph in {workspace.graph}; run `shopmesh kg build` first")
    members = load_local_members(
        Registry(workspace.registry),
        ProductGraph.load(workspace.graph),
        load_reference_frame(args.reference_data),
        intent_version=args.intent_version,
        reply_version=args.reply_version,
        reply_model_path=args.reply_model,
    )
    print(json.dumps(members.answer(request).to_dict(), indent=2, default=str))
    return 0
