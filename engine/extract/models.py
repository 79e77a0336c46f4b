"""The CNNs people use for image retrieval, with their classifier head removed.

The feature is the globally average-pooled output of the last convolutional stage (what the
classifier would see). Preprocessing sizes come from torchvision's own weights entries, so
``--weights imagenet`` is fed exactly what the weights were trained on. Weights:

* ``imagenet`` (or an enum member such as ``IMAGENET1K_V1``): torchvision's cache, downloaded
  once when there is a network; offline with no cache -> :class:`WeightsUnavailable` with both fixes;
* a path: a local state dict (``torch.save(model.state_dict())``; classifier keys are ignored);
* ``random``: seeded initialisation (same network in every process), announced loudly.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from PIL import Image

from .deps import WeightsUnavailable, require_torch
from sanny.workers.errors import InvalidArgument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arch:
    dim: int          # feature dimension
    head: str         # attribute holding the classifier, replaced by Identity
    min_size: int     # smallest input the network accepts


ARCHS = {
    "resnet50": Arch(2048, "fc", 32),
    "efficientnet_b0": Arch(1280, "classifier", 32),
    "inception_v3": Arch(2048, "fc", 75),
}
_HEAD_KEYS = ("fc.", "classifier.", "AuxLogits.")


def canonical(name: str) -> str:
    n = name.lower().replace("-", "_")
    n = {"resnet_50": "resnet50", "efficientnetb0": "efficientnet_b0", "inceptionv3": "inception_v3"}.get(n, n)
    if n not in ARCHS:
        raise InvalidArgument("model", f"unknown model {name!r}; choose one of {', '.join(ARCHS)}")
    return n


@dataclass(frozen=True)
class Preprocess:
    resize: int       # shorter side before the centre crop
    crop: int         # square network input
    mean: tuple
    std: tuple
    resample: int     # PIL resampling filter


@dataclass
class Network:
    module: object    # torch.nn.Module in eval mode, returning [n, dim] features
    name: str
    dim: int
    preprocess: Preprocess
    weights_id: str   # identifies the weights, stored with extracted features


def _weights_entry(name: str, weights: str):
    from torchvision import models

    enum = models.get_model_weights(name)
    if weights.lower() in ("imagenet", "default"):
        return enum.DEFAULT
    try:
        return enum[weights]
    except KeyError:
        return None


def preprocess_for(name: str, weights: str = "imagenet", image_size: int | None = None) -> Preprocess:
    entry = _weights_entry(name, weights) or _weights_entry(name, "imagenet")
    t = entry.transforms()
    crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
    if image_size:
        if image_size < ARCHS[name].min_size:
            raise InvalidArgument("image_size", f"{name} needs at least {ARCHS[name].min_size} pixels")
        crop, resize = image_size, round(image_size * resize / crop)
    resample = Image.Resampling.BICUBIC if "BICUBIC" in str(t.interpolation) else Image.Resampling.BILINEAR
    return Preprocess(resize, crop, tuple(t.mean), tuple(t.std), int(resample))


def load(name: str = "resnet50", weights: str = "imagenet", image_size: int | None = None,
         seed: int = 0) -> Network:
    """Build ``name`` with ``weights`` (see module doc) as a feature extractor."""
    torch, _ = require_torch()
    from torchvision import models

    name = canonical(name)
    prep = preprocess_for(name, weights, image_size)  # checks image_size before any building
    entry = _weights_entry(name, weights)
    if entry is not None:
        module, wid = _pretrained(name, entry), f"imagenet:{entry.name}"
    elif weights == "random":
        log.warning("*** --weights random: %s is UNTRAINED (seed %d). Its features reflect colour and "
                    "layout, not what the images show. Use --weights imagenet or PATH for real search. ***",
                    name, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = models.get_model(name, weights=None, **_plain_kwargs(name, init=True))
        wid = f"random:seed={seed}"
    else:
        module, wid = _from_file(name, weights)
    setattr(module, ARCHS[name].head, torch.nn.Identity())
    module.eval().requires_grad_(False)
    return Network(module, name, ARCHS[name].dim, prep, wid)


def _plain_kwargs(name: str, init: bool) -> dict:
    return {"aux_logits": False, "init_weights": init} if name == "inception_v3" else {}


def cache_path(entry) -> str:
    import torch

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(entry.url).path))


def _pretrained(name: str, entry):
    """torchvision's pretrained weights through its cache; download only when missing."""
    import torch
    from torchvision import models

    path = cache_path(entry)
    if not os.path.exists(path):
        m = re.search(r"-([a-f0-9]+)\.", os.path.basename(path))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            log.info("downloading %s weights %s -> %s", name, entry.url, path)
            torch.hub.download_url_to_file(entry.url, path, hash_prefix=m.group(1) if m else None)
        except (OSError, RuntimeError, ValueError) as e:
            raise WeightsUnavailable(
                f"ImageNet weights for {name} are not in the torch cache and could not be downloaded "
                f"({type(e).__name__}: {e}). Fix either way: (1) on a machine with internet, download "
                f"{entry.url} and copy it to {path} (the cache directory follows $TORCH_HOME), or "
                f"(2) pass --weights PATH with a local state dict of {name}.") from None
    kw = {"aux_logits": False} if name == "inception_v3" else {}
    try:
        return models.get_model(name, weights=entry, **kw)
    except Exception as e:  # noqa: BLE001 - a damaged cache file can fail in many ways
        raise WeightsUnavailable(f"cached weights {path} could not be loaded ({type(e).__name__}: {e}); "
                                 f"delete the file and retry, or pass --weights PATH") from None


def _from_file(name: str, path: str):
    import torch
    from torchvision import models

    if not os.path.isfile(path):
        raise WeightsUnavailable(f"--weights {path!r}: not 'imagenet', 'random' or an existing checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip/format errors all mean "not a usable state dict"
        raise WeightsUnavailable(f"{path}: not a loadable PyTorch state dict ({type(e).__name__}: {e})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise WeightsUnavailable(f"{path}: expected a state dict (parameter name -> tensor)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    module = models.get_model(name, weights=None, **_plain_kwargs(name, init=False))
    setattr(module, ARCHS[name].head, torch.nn.Identity())
    body = {k: v for k, v in state.items() if not k.startswith(_HEAD_KEYS)}
    try:
        missing, unexpected = module.load_state_dict(body, strict=False)
    except RuntimeError as e:
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:3])
        raise WeightsUnavailable(f"{path}: does not fit {name}: {detail}") from None
    if missing or unexpected:
        raise WeightsUnavailable(f"{path}: not a {name} state dict (missing {sorted(missing)[:3]}, "
                                 f"unexpected {sorted(unexpected)[:3]}, ...)")
    return module, f"file:{_digest(path)}"


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
