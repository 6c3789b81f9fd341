from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge

from ensemble.vision.retrieval import (
    ImageIndex,
    fit_text_projection,
    normalise_rows,
    recall_at_k,
    text_to_image_hit_at_k,
)


def test_index_search_matches_a_full_sort_of_cosine_scores() -> None:
    rng = np.random.default_rng(0)
    photos = normalise_rows(rng.normal(size=(50, 8)))
    queries = rng.normal(size=(4, 8))
    index = ImageIndex(photos, np.arange(50, dtype=np.int64) % 5)
    top, scores = index.search(queries, 7)
    expected = np.argsort(-(normalise_rows(queries) @ photos.T), axis=1)[:, :7]
    np.testing.assert_array_equal(top, expected)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_projection_equals_sklearn_ridge_with_an_unpenalised_intercept() -> None:
    rng = np.random.default_rng(1)
    text = rng.normal(size=(60, 5))
    image = text @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(60, 3)) + 2.0
    projection = fit_text_projection(text, image, alpha=3.0)
    reference = Ridge(alpha=3.0).fit(text, image)
    np.testing.assert_allclose(projection.weight[:-1], reference.coef_.T, atol=1e-5)
    np.testing.assert_allclose(projection.weight[-1], reference.intercept_, atol=1e-5)
    np.testing.assert_allclose(projection(text), normalise_rows(reference.predict(text)), atol=1e-5)


def test_recall_at_k_counts_queries_whose_class_is_in_their_top_k() -> None:
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.5, 0.8], [0.3, 0.2, 0.1]])
    labels = np.array([0, 1, 2])
    assert recall_at_k(scores, labels, 1) == 1 / 3
    assert recall_at_k(scores, labels, 2) == 2 / 3


def test_text_to_image_hit_and_precision_at_k() -> None:
    # Two class texts against four photos of classes [0, 0, 1, 1]; class 2 has no photo and is skipped.
    scores = np.array([[0.9, 0.1, 0.8, 0.0], [0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])
    recall, precision = text_to_image_hit_at_k(scores, np.array([0, 0, 1, 1]), 2)
    assert recall == 0.5  # class 0 finds a photo of its own in its top 2; class 1 does not
    assert precision == 0.25  # (1/2 + 0/2) / 2
