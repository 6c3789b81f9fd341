from __future__ import annotations

import numpy as np
import torch

from ensemble.vision.calibration import coarse_probabilities, fit_ooc_threshold, fit_temperature


def test_temperature_recovers_the_one_that_generated_the_labels() -> None:
    # Prepare: labels drawn from softmax(z / 2.5), so the NLL-optimal temperature of z is near 2.5
    generator = torch.Generator().manual_seed(0)
    logits = 4.0 * torch.randn((20_000, 6), generator=generator)
    labels = torch.multinomial(torch.softmax(logits / 2.5, dim=1), 1, generator=generator).squeeze(1)
    # Execute
    temperature = fit_temperature(logits, labels)
    # Assert
    assert abs(temperature - 2.5) < 0.1


def test_coarse_probabilities_sum_the_fine_ones_per_coarse_class() -> None:
    fine = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    coarse = coarse_probabilities(fine, [0, 0, 1, 2], 3)
    np.testing.assert_allclose(coarse, [[0.3, 0.3, 0.4], [0.8, 0.1, 0.1]])


def test_ooc_threshold_is_the_quantile_of_correct_confidences() -> None:
    confidence = np.array([0.9, 0.8, 0.1, 0.6, 0.7, 0.5])
    correct = np.array([True, True, False, True, True, True])
    threshold = fit_ooc_threshold(confidence, correct, 0.25)
    assert threshold == np.quantile([0.9, 0.8, 0.6, 0.7, 0.5], 0.25)
    assert fit_ooc_threshold(confidence, correct, 0.0) == 0.0
