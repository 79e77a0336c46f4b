"""Images in, vectors out: CNN feature extraction and the image registration path.

``images`` (decode anything, skip the rest with a reason) and ``gallery`` need only Pillow;
``nets`` / ``models`` / ``extractor`` need the ``cnn`` extra (torch; no torchvision) and say so
if absent.
Commands: ``sanny extract``, ``sanny register``, ``sanny search-image`` (see ``cli``).
"""
from .deps import MissingExtra, WeightsUnavailable, require_torch

__all__ = ["MissingExtra", "WeightsUnavailable", "require_torch"]
