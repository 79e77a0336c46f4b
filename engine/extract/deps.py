"""The optional ``cnn`` extra: import torch or say exactly what to install.

The engine and the service run without torch; only the image commands need it, and a user
who lacks it should get one line naming the extra, not an ImportError from deep inside.
torchvision is deliberately not needed (its wheels require the CUDA build of torch): the
networks are defined in :mod:`.nets`.
"""
from __future__ import annotations

from sanny.workers.errors import SannyError

INSTALL_HINT = ("pip install 'sanny[cnn]'  (torch==2.13.0 CPU build, Pillow; for the CPU wheel add "
                "--extra-index-url https://download.pytorch.org/whl/cpu if pip would fetch the CUDA one)")


class MissingExtra(SannyError):
    """torch (the ``cnn`` extra) is not installed."""


class WeightsUnavailable(SannyError):
    """Model weights that cannot be found, downloaded or loaded."""


def require_torch():
    """The ``torch`` module, or :class:`MissingExtra` naming the extra to install."""
    try:
        import torch
    except ImportError as e:  # also raised when sys.modules[name] is None
        raise MissingExtra(f"CNN features need PyTorch, which is not installed "
                           f"({e}). Install the 'cnn' extra: {INSTALL_HINT}") from None
    return torch
