"""Tokenise and run an exported intent graph with ONNX Runtime on CPU; softmax in numpy."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from edge.runtime.errors import BundleError

logger = logging.getLogger(__name__)

__all__ = ["Encoded", "IntentRunner", "softmax"]

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"


@dataclass(frozen=True)
class Encoded:
    """Token ids and attention mask, both int64 [B, T]."""

    input_ids: npt.NDArray[np.int64]
    attention_mask: npt.NDArray[np.int64]


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax [B, C] -> [B, C], shifted by the row maximum for stability."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    probs: npt.NDArray[np.float32] = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
    return probs


class IntentRunner:
    """An ONNX intent graph, its tokenizer and its labels; no verification (see :class:`EdgeBundle`)."""

    def __init__(
        self,
        model: bytes | Path,
        tokenizer_json: str,
        labels: Sequence[str],
        *,
        intra_op_threads: int = 1,
        output_name: str = "logits",
        source: str = "bundle",
    ) -> None:
        try:
            self.tokenizer = Tokenizer.from_str(tokenizer_json)
        except Exception as err:  # tokenizers raises a bare Exception on a malformed file
            raise BundleError(f"cannot load the tokenizer of {source}: {err}; re-export the bundle") from err
        if len(labels) < 2 or not all(isinstance(x, str) for x in labels):
            raise BundleError(f"{source} must list at least two label strings, got {list(labels)!r}")
        self.labels: list[str] = list(labels)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as err:  # onnxruntime raises its own exception types without a common base
            raise BundleError(f"onnxruntime cannot open the model of {source}: {err}; re-export the bundle") from err
        input_names = {i.name for i in self.session.get_inputs()}
        if input_names != {INPUT_IDS, ATTENTION_MASK}:
            raise BundleError(
                f"the model of {source} takes inputs {sorted(input_names)}; an intent bundle takes "
                f"[{ATTENTION_MASK!r}, {INPUT_IDS!r}]: re-export it with edge.export"
            )
        outputs = {o.name: o for o in self.session.get_outputs()}
        if output_name not in outputs:
            raise BundleError(f"the model of {source} has outputs {sorted(outputs)}, not {output_name!r}; re-export it")
        self.output_name = output_name
        width = outputs[output_name].shape[-1]
        if isinstance(width, int) and width != len(self.labels):
            raise BundleError(
                f"the model of {source} outputs {width} classes but its labels list has {len(self.labels)}; "
                "the files come from different exports: re-export the bundle"
            )

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Token ids [B, T] padded to the batch's longest text (truncated as the tokenizer is configured)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return Encoded(
            input_ids=np.asarray([e.ids for e in encodings], dtype=np.int64),
            attention_mask=np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        )

    def logits(self, encoded: Encoded) -> npt.NDArray[np.float32]:
        """Calibrated logits [B, C]."""
        feeds = {INPUT_IDS: encoded.input_ids, ATTENTION_MASK: encoded.attention_mask}
        out = self.session.run([self.output_name], feeds)[0]
        result: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32)
        return result

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Class probabilities [B, C] for B texts."""
        if not texts:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        return softmax(self.logits(self.encode(texts)))
