from __future__ import annotations

from pathlib import Path

import numpy as np

from ensemble.vision.data import Catalogue
from ensemble.vision.evaluation import ClassScores, classification_report


def _catalogue() -> Catalogue:
    return Catalogue(
        class_ids=[0, 1, 2],
        names=["Granny-Smith", "Pink-Lady", "Banana"],
        coarse_ids=[0, 2],
        coarse_names=["Apple", "Banana"],
        fine_to_coarse=[0, 0, 1],
        departments=["Fruit"] * 3,
        descriptions=["a", "b", "c"],
        iconic=[Path("a.jpg"), Path("b.jpg"), Path("c.jpg")],
    )


def test_report_counts_fine_and_coarse_hits_and_the_confused_pair() -> None:
    # Photo 1 is a Granny Smith taken for a Pink Lady: wrong fine class, right coarse class.
    probabilities = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6]])
    scores = ClassScores(probabilities, np.array([0, 0, 2, 2]), np.array([0, 0, 1, 1]))
    report = classification_report(scores, _catalogue(), ooc_threshold=0.7)
    assert report["accuracy_fine"] == 0.75
    assert report["accuracy_coarse"] == 1.0
    assert report["most_confused"] == [{"true": "Granny-Smith", "predicted": "Pink-Lady", "count": 1}]
    assert report["ooc_flagged_share"] == 0.5  # confidences 0.6 and 0.6 are under 0.7
    assert report["accuracy_fine_not_flagged"] == 1.0
    # macro-F1 over the classes present: Granny-Smith 2/3, Banana 1 (Pink-Lady absent from the labels)
    assert report["macro_f1"] == round((2 / 3 + 1.0) / 2, 4)
