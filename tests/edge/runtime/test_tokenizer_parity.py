"""The device tokenizer (tokenizers + the bundle's tokenizer.json) gives exactly the HF tokenizer's ids."""

from __future__ import annotations

import numpy as np
import pytest

from edge.export import BundleInfo
from edge.runtime import EdgeBundle, TrustedKey
from ensemble.members.intent import IntentModel

SENTENCES = [
    "Where is my order #A-1234?",
    "I'd like to RETURN these shoes — they're too small.",
    "Café crème, naïve façade, Ünïcödé and emoji 📦🚚",
    "hi",
    "   spaces   around   ",
    " ".join(["this sentence is long enough to be truncated at max_length"] * 10),
]


@pytest.mark.parametrize("batch", [SENTENCES, SENTENCES[:1], SENTENCES[3:4], SENTENCES[-1:]])
def test_device_ids_and_mask_equal_the_hf_tokenizer(
    batch: list[str], tiny_bundle: BundleInfo, tiny_model: IntentModel, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    bundle = EdgeBundle.load(tiny_bundle.path, trusted_keys)
    expected = tiny_model.tokenizer(
        batch, padding=True, truncation=True, max_length=tiny_model.config.max_length, return_tensors="np"
    )

    # Execute
    encoded = bundle.runner.encode(batch)

    # Assert
    np.testing.assert_array_equal(encoded.input_ids, expected["input_ids"])
    np.testing.assert_array_equal(encoded.attention_mask, expected["attention_mask"])
    assert encoded.input_ids.dtype == np.int64
    assert encoded.input_ids.shape[1] <= tiny_model.config.max_length
