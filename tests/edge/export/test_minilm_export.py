"""The packaged MiniLM with a trained head exports, quantizes and validates (fp32 parity, int8 agreement)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge.export import BundleSigner, export_intent, validate_bundle
from edge.runtime import EdgeBundle, TrustedKey
from ensemble.members.intent import IntentModel, encode

EXAMPLES = {
    "order_status": [
        "where is my order",
        "has my parcel shipped yet",
        "track my package please",
        "when will my delivery arrive",
        "my order still has not come",
        "what is the status of order 5521",
        "is my shipment on its way",
        "the courier has not delivered my box",
    ],
    "returns": [
        "I want to return these shoes",
        "how do I send an item back",
        "can I get a refund for a broken kettle",
        "the jacket is too small, I want to exchange it",
        "start a return for my order",
        "the lamp arrived damaged, refund please",
        "what is your returns policy",
        "I would like my money back",
    ],
    "greeting": [
        "hello",
        "hi there",
        "good morning",
        "hey, how are you",
        "good evening!",
        "hiya",
        "greetings",
        "hello, anyone there?",
    ],
    "store_hours": [
        "when do you open",
        "what time does the shop close today",
        "are you open on sunday",
        "opening hours please",
        "is the store open on bank holidays",
        "until when are you open tonight",
        "what are your hours on saturday",
        "do you open early on weekdays",
    ],
}


def _fit_head(model: IntentModel, texts: list[str], gold: list[str]) -> None:
    """Fit the linear head on frozen sentence embeddings (full-batch Adam) so predictions mean something."""
    embeddings = encode(model, texts)  # [N, H]
    target = torch.tensor([model.labels.index(label) for label in gold])
    optimizer = torch.optim.Adam(model.head.parameters(), lr=0.05)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.head(embeddings), target)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    model.eval()


@pytest.mark.integration
def test_packaged_minilm_exports_to_int8_with_fp32_parity(
    tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare
    texts = [t for items in EXAMPLES.values() for t in items]
    gold = [label for label, items in EXAMPLES.items() for _ in items]
    model = IntentModel.from_pretrained(list(EXAMPLES))
    _fit_head(model, texts, gold)

    # Execute
    info = export_intent(model, tmp_path / "minilm", version_id="intent:v0003", signer=signer)
    report = validate_bundle(info.path, model, texts, gold, atol=1e-4)
    bundle = EdgeBundle.load(info.path, trusted_keys)

    # Assert
    assert report.fp32_max_abs_diff <= 1e-4
    assert report.torch_accuracy == 1.0, "a head fitted on these texts should separate them"
    assert report.int8_agreement >= 0.9
    assert info.model_size_bytes < info.fp32_size_bytes / 3
    assert bundle.predict(["where is my parcel"])[0].intent == "order_status"
