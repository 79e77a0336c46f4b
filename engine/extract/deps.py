"""The optional ``cnn`` extra: import torch/torchvision or say exactly what to install.

The engine and the service run without torch; only the image commands need it, and a user
who lacks it should get one line naming the extra, not an ImportError from deep inside.
"""
from __future__ import annotations

from sanny.workers.errors import SannyError

INSTALL_HINT = "pip install 'sanny[cnn]'  (torch==2.14.1, torchvision==0.29.1, CPU build)"


class MissingExtra(SannyError):
    """torch / torchvision (the ``cnn`` extra) are not installed."""


class WeightsUnavailable(SannyError):
    """Model weights that cannot be found, downloaded or loaded."""


def require_torch():
    """``(torch, torchvision)`` or :class:`MissingExtra` naming the extra to install."""
    try:
        import torch
        import torchvision
    except ImportError as e:  # also raised when sys.modules[name] is None
        raise MissingExtra(f"CNN features need PyTorch and torchvision, which are not installed "
                           f"({e}). Install the 'cnn' extra: {INSTALL_HINT}") from None
    return torch, torchvision
