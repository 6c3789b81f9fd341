"""A fitted vision member answering for photos: class, coarse class, calibrated confidence, out-of-catalogue flag,
the catalogue entry of the predicted class and the most similar products; and scores on labelled photos."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from ensemble.errors import ModelError
from ensemble.vision.augment import resize_batch
from ensemble.vision.calibration import coarse_probabilities
from ensemble.vision.config import VisionConfig
from ensemble.vision.data import Catalogue, ImageSet, image_to_tensor
from ensemble.vision.evaluation import ClassScores, classification_report
from ensemble.vision.model import VisionModel
from ensemble.vision.retrieval import (
    ImageIndex,
    TextProjection,
    embed_texts,
    normalise_rows,
    recall_at_k,
    text_to_image_hit_at_k,
)

__all__ = ["CatalogueMatch", "VisionPrediction", "VisionPredictor"]


@dataclass(frozen=True)
class CatalogueMatch:
    """One catalogue product with the score that ranked it (probability or cosine similarity)."""

    class_id: int
    class_name: str
    coarse_name: str
    department: str
    description: str
    iconic_image: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_id": self.class_id,
            "class_name": self.class_name,
            "coarse_name": self.coarse_name,
            "department": self.department,
            "description": self.description,
            "iconic_image": self.iconic_image,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class VisionPrediction:
    """The answer for one photo. ``product`` is the predicted class's catalogue entry (score = confidence);
    ``similar`` ranks catalogue classes by the cosine similarity of their nearest indexed photo."""

    product: CatalogueMatch
    coarse_id: int
    coarse_name: str
    coarse_confidence: float
    confidence: float
    out_of_catalogue: bool
    similar: list[CatalogueMatch]

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product.to_dict(),
            "coarse_id": self.coarse_id,
            "coarse_name": self.coarse_name,
            "coarse_confidence": round(self.coarse_confidence, 4),
            "confidence": round(self.confidence, 4),
            "out_of_catalogue": self.out_of_catalogue,
            "similar": [m.to_dict() for m in self.similar],
        }


@dataclass
class VisionPredictor:
    """The fine-tuned model (temperature inside), its catalogue, photo index and text projection."""

    model: VisionModel
    catalogue: Catalogue
    config: VisionConfig
    ooc_threshold: float
    index: ImageIndex
    projection: TextProjection
    class_text: NDArray[np.float32]  # [C, 1280] class texts projected into the image space
    version_id: str | None = None

    @torch.no_grad()
    def _forward(self, pixels: torch.Tensor) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """Calibrated fine probabilities [N, C] and unit embeddings [N, 1280] of uint8 photos [N, 3, S, S]."""
        self.model.eval()
        probs, embeddings = [], []
        for start in range(0, len(pixels), 64):
            batch = resize_batch(pixels[start : start + 64], self.config.image_size)
            embedding = self.model.embed(batch)  # [b, 1280]
            logits = self.model.classify(embedding) / self.model.temperature
            probs.append(torch.softmax(logits, dim=1).double().numpy())
            embeddings.append(embedding.numpy())
        return np.concatenate(probs), normalise_rows(np.concatenate(embeddings))

    def _match(self, index: int, score: float) -> CatalogueMatch:
        cat = self.catalogue
        return CatalogueMatch(
            cat.class_ids[index],
            cat.names[index],
            cat.coarse_names[cat.fine_to_coarse[index]],
            cat.departments[index],
            cat.descriptions[index],
            cat.iconic[index].name,
            float(score),
        )

    def predict(self, images: Sequence[Image.Image], *, k: int = 5) -> list[VisionPrediction]:
        """Answers for RGB photos, in order."""
        if not images:
            return []
        if k < 1:
            raise ModelError(f"k must be at least 1, got {k}.")
        pixels = torch.stack([image_to_tensor(image, self.config.cache_size) for image in images])
        probs, embeddings = self._forward(pixels)
        coarse = coarse_probabilities(probs, self.catalogue.fine_to_coarse, len(self.catalogue.coarse_ids))
        neighbours, scores = self.index.search(embeddings, min(len(self.index.labels), 20 * k))
        answers = []
        for row in range(len(images)):
            fine = int(probs[row].argmax())
            coarse_index = int(coarse[row].argmax())
            best: dict[int, float] = {}
            for photo, score in zip(neighbours[row], scores[row], strict=True):
                best.setdefault(int(self.index.labels[photo]), float(score))  # neighbours come best first
            similar = [self._match(c, s) for c, s in list(best.items())[:k]]
            answers.append(
                VisionPrediction(
                    product=self._match(fine, float(probs[row, fine])),
                    coarse_id=self.catalogue.coarse_ids[coarse_index],
                    coarse_name=self.catalogue.coarse_names[coarse_index],
                    coarse_confidence=float(coarse[row, coarse_index]),
                    confidence=float(probs[row, fine]),
                    out_of_catalogue=bool(probs[row, fine] < self.ooc_threshold),
                    similar=similar,
                )
            )
        return answers

    def search_text(self, text: str, *, k: int = 5) -> list[CatalogueMatch]:
        """Catalogue classes whose photos best match a free text (MiniLM -> projection -> class centroids)."""
        if not text.strip():
            raise ModelError("the search text is empty; describe the product, e.g. 'green apple, firm and sour'.")
        query = self.projection(embed_texts([text]))  # [1, 1280]
        centroids = _centroids(self.index, self.catalogue.num_classes)
        scores = (query @ centroids.T)[0]
        return [self._match(int(c), float(scores[c])) for c in np.argsort(-scores)[:k]]

    def evaluate(self, images: ImageSet, *, k: int = 5) -> dict[str, Any]:
        """The classification report and recall@k both ways between photos and class texts."""
        probs, embeddings = self._forward(images.pixels)
        fine = images.fine.numpy()
        report = classification_report(
            ClassScores(probs, fine, images.coarse.numpy()), self.catalogue, ooc_threshold=self.ooc_threshold
        )
        similarity = embeddings @ self.class_text.T  # [N, C]
        text_recall, text_precision = text_to_image_hit_at_k(similarity.T, fine, k)
        report[f"photo_to_text_recall@{k}"] = round(recall_at_k(similarity, fine, k), 4)
        report[f"text_to_photo_recall@{k}"] = round(text_recall, 4)
        report[f"text_to_photo_precision@{k}"] = round(text_precision, 4)
        return report


def _centroids(index: ImageIndex, num_classes: int) -> NDArray[np.float32]:
    """Unit-length mean embedding of each class's indexed photos: [C, D] (zero rows for classes without one)."""
    sums = np.zeros((num_classes, index.embeddings.shape[1]), dtype=np.float32)
    np.add.at(sums, index.labels, index.embeddings)
    return normalise_rows(sums)
