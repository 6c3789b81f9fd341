"""The fallback's source: the reference response of the most similar training message.

:class:`ReferenceIndex` holds the training split's messages, intents and reference responses (Bitext: templates
with ``{{Slot}}`` placeholders). :meth:`ReferenceIndex.nearest` embeds the message with TF-IDF (word uni- and
bigrams, sublinear term frequency) and returns the response of the most cosine-similar training message with
the same intent, or of all messages when the intent is unknown to the index.

Some Bitext responses repeat the request's own order or invoice number ("invoice #85632"); such a value is a
fact about another customer's order, so :func:`retemplate` turns it back into its slot (``{{Order Number}}``,
``{{Invoice Number Anonymized}}``), which the chain fills with a confirmed value or a neutral phrase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from ensemble.chat.errors import ChatError
from ensemble.datasets import ColumnKind, load_bitext, read_csv_checked, split_bitext

__all__ = ["REFERENCE_COLUMNS", "Reference", "ReferenceIndex", "load_reference_frame", "retemplate"]

# The slot that stands for a request entity's value inside a reference response.
ENTITY_SLOT = {
    "order_id": "{{Order Number}}",
    "invoice_id": "{{Invoice Number Anonymized}}",
    "person_name": "{{Name Field Anonymized}}",
}
_MIN_VALUE_LENGTH = 3  # shorter values would match inside unrelated words


def retemplate(response: str, entity_type: str, entity_value: str) -> str:
    """``response`` with the request entity's literal value replaced by its slot (when it has one)."""
    slot = ENTITY_SLOT.get(entity_type.strip())
    value = entity_value.strip()
    if slot is None or len(value) < _MIN_VALUE_LENGTH:
        return response
    return response.replace(value, slot)


REFERENCE_COLUMNS = {"instruction": ColumnKind.STR, "intent": ColumnKind.STR, "response": ColumnKind.STR}


def load_reference_frame(path: Path | None = None) -> pd.DataFrame:
    """Reference rows for the fallback: a CSV with instruction, intent, response; default the Bitext train split."""
    if path is None:
        return split_bitext(load_bitext()).train
    return read_csv_checked(path, REFERENCE_COLUMNS)


@dataclass(frozen=True)
class Reference:
    """A retrieved reference response and where it came from."""

    response: str
    intent: str
    row: int
    similarity: float


class ReferenceIndex:
    """TF-IDF nearest-neighbour lookup of reference responses, per intent."""

    def __init__(self, messages: Sequence[str], intents: Sequence[str], responses: Sequence[str]) -> None:
        if not (len(messages) == len(intents) == len(responses)) or not messages:
            raise ChatError(
                f"reference index needs equally long, non-empty columns; got {len(messages)} messages, "
                f"{len(intents)} intents, {len(responses)} responses"
            )
        self._intents = np.asarray([str(i) for i in intents])
        self._responses = [str(r) for r in responses]
        self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        self._matrix = self._vectorizer.fit_transform([str(m) for m in messages])  # [N, V], rows L2-normalised

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        text_col: str = "instruction",
        label_col: str = "intent",
        response_col: str = "response",
    ) -> ReferenceIndex:
        """An index over a training frame (the Bitext train split by default columns)."""
        missing = [c for c in (text_col, label_col, response_col) if c not in frame.columns]
        if missing:
            raise ChatError(f"reference data lacks columns {missing}; columns are {list(frame.columns)}")
        clean = frame.dropna(subset=[text_col, label_col, response_col])
        responses = clean[response_col].astype(str).tolist()
        if "entity_type" in clean.columns and "entity_value" in clean.columns:
            responses = [
                retemplate(r, str(t), str(v))
                for r, t, v in zip(
                    responses, clean["entity_type"].fillna(""), clean["entity_value"].fillna(""), strict=True
                )
            ]
        return cls(clean[text_col].astype(str).tolist(), clean[label_col].astype(str).tolist(), responses)

    def __len__(self) -> int:
        return len(self._responses)

    @property
    def intents(self) -> list[str]:
        return sorted(set(self._intents.tolist()))

    def nearest(self, text: str, intent: str | None = None) -> Reference:
        """The reference response of the training message most similar to ``text`` (within ``intent``)."""
        rows = np.flatnonzero(self._intents == intent) if intent is not None else np.array([], dtype=int)
        if rows.size == 0:
            rows = np.arange(len(self._responses))
        query = self._vectorizer.transform([text])  # [1, V]
        scores = (self._matrix[rows] @ query.T).toarray().ravel()  # [len(rows)]
        best = int(rows[int(scores.argmax())])
        return Reference(self._responses[best], str(self._intents[best]), best, float(scores.max()))
