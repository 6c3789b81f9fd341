"""Edge: int8 ONNX bundles for store devices.

``edge.runtime`` is the torch-free device SDK; ``edge.export`` (torch, ensemble) turns an intent version
into a signed bundle. This package imports neither, so ``import edge.runtime`` stays light.
"""

from __future__ import annotations

__all__: list[str] = []
