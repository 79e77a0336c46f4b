"""The CNNs offered for image retrieval, with their classifier head removed.

The feature is the globally average-pooled output of the last convolutional stage (what the
classifier would see). The networks are ours (:mod:`.nets`, plain torch, no torchvision) with
torchvision's parameter names, so torchvision's published ImageNet checkpoints load as they
are. Preprocessing sizes are the ones each checkpoint was evaluated with. Weights:

* ``imagenet`` (or a tag such as ``IMAGENET1K_V1``): the checkpoint file in the torch hub cache
  (``<torch.hub.get_dir()>/checkpoints/resnet50-11ad3fa6.pth`` ...), downloaded once when there
  is a network; offline with no such file -> :class:`WeightsUnavailable` naming where to put it;
* a path: a local state dict (``torch.save(model.state_dict())``; classifier keys are ignored);
* ``random``: seeded initialisation (same network in every process), announced loudly.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import images
from .deps import WeightsUnavailable, require_torch
from sanny.workers.errors import InvalidArgument

log = logging.getLogger(__name__)

URL = "https://download.pytorch.org/models/"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet statistics
MIN_SIZE = 32  # every network here downsamples by 32


@dataclass(frozen=True)
class Checkpoint:
    """One of torchvision's published ImageNet weight files and how its inputs were prepared."""
    tag: str
    file: str
    resize: int = 256
    crop: int = 224
    bicubic: bool = False


_V1, _V2 = "IMAGENET1K_V1", "IMAGENET1K_V2"
# per network, torchvision's default checkpoint first
CHECKPOINTS = {
    "resnet18": (Checkpoint(_V1, "resnet18-f37072fd.pth"),),
    "resnet34": (Checkpoint(_V1, "resnet34-b627a593.pth"),),
    "resnet50": (Checkpoint(_V2, "resnet50-11ad3fa6.pth", 232), Checkpoint(_V1, "resnet50-0676ba61.pth")),
    "resnet101": (Checkpoint(_V2, "resnet101-cd907fc2.pth", 232), Checkpoint(_V1, "resnet101-63fe2227.pth")),
    "resnet152": (Checkpoint(_V2, "resnet152-f82ba261.pth", 232), Checkpoint(_V1, "resnet152-394f9c45.pth")),
    "efficientnet_b0": (Checkpoint(_V1, "efficientnet_b0_rwightman-7f5810bc.pth", bicubic=True),),
}
DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048,
        "efficientnet_b0": 1280}


def canonical(name: str) -> str:
    n = name.lower().replace("-", "_").replace("resnet_", "resnet").replace("efficientnetb0", "efficientnet_b0")
    if n not in DIMS:
        raise InvalidArgument("model", f"unknown model {name!r}; choose one of {', '.join(DIMS)}")
    return n


@dataclass(frozen=True)
class Preprocess:
    resize: int       # shorter side before the centre crop
    crop: int         # square network input
    mean: tuple
    std: tuple
    resample: int     # PIL resampling filter


def to_tensor(im: Image.Image, prep: Preprocess):
    """RGB picture -> normalised float CHW tensor: resize, centre crop, ImageNet mean/std."""
    import torch

    im = images.resize_crop(im, prep.resize, prep.crop, prep.resample)
    x = torch.from_numpy(np.asarray(im, np.uint8).copy()).permute(2, 0, 1).float().div_(255)
    mean, std = torch.tensor(prep.mean).view(3, 1, 1), torch.tensor(prep.std).view(3, 1, 1)
    return (x - mean) / std


@dataclass
class Network:
    module: object    # torch.nn.Module in eval mode, returning [n, dim] features
    name: str
    dim: int
    preprocess: Preprocess
    weights_id: str   # identifies the weights, stored with extracted features


def cache_path(ck: Checkpoint) -> str:
    import torch

    return os.path.join(torch.hub.get_dir(), "checkpoints", ck.file)


def checkpoint_for(name: str, weights: str) -> Checkpoint | None:
    """The published checkpoint ``weights`` means: ``imagenet`` is the first one already in the
    cache (else the default); a tag picks that one; a file named like one is that one."""
    known = CHECKPOINTS[name]
    if weights.lower() in ("imagenet", "default"):
        return next((c for c in known if os.path.exists(cache_path(c))), known[0])
    return next((c for c in known if weights.upper() == c.tag or os.path.basename(weights) == c.file), None)


def _published(name: str, weights: str) -> bool:
    """``weights`` names a published checkpoint (``imagenet`` or a tag), not a file."""
    return weights.lower() in ("imagenet", "default") or any(weights.upper() == c.tag for c in CHECKPOINTS[name])


def preprocess_for(name: str, weights: str = "imagenet", image_size: int | None = None) -> Preprocess:
    ck = checkpoint_for(name, weights) or CHECKPOINTS[name][0]
    crop, resize = ck.crop, ck.resize
    if image_size:
        if image_size < MIN_SIZE:
            raise InvalidArgument("image_size", f"{name} needs at least {MIN_SIZE} pixels")
        crop, resize = image_size, round(image_size * resize / crop)
    resample = Image.Resampling.BICUBIC if ck.bicubic else Image.Resampling.BILINEAR
    return Preprocess(resize, crop, MEAN, STD, int(resample))


def load(name: str = "resnet50", weights: str = "imagenet", image_size: int | None = None,
         seed: int = 0) -> Network:
    """Build ``name`` with ``weights`` (see module doc) as a feature extractor."""
    torch = require_torch()
    from . import nets

    name = canonical(name)
    prep = preprocess_for(name, weights, image_size)  # checks image_size before any building
    ck = checkpoint_for(name, weights)
    if _published(name, weights):
        module, wid = _pretrained(name, ck), f"imagenet:{ck.tag}"
    elif weights == "random":
        log.warning("*** --weights random: %s is UNTRAINED (seed %d). Its features reflect colour and "
                    "layout, not what the images show. Use --weights imagenet or PATH for real search. ***",
                    name, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = nets.headless(nets.build(name), name)
        wid = f"random:seed={seed}"
    else:
        if not os.path.isfile(weights):
            raise WeightsUnavailable(f"--weights {weights!r}: not 'imagenet', 'random', a checkpoint tag "
                                     f"({', '.join(c.tag for c in CHECKPOINTS[name])}) or an existing file")
        module, wid = _from_file(name, weights), f"file:{_digest(weights)}"
    module.eval().requires_grad_(False)
    return Network(module, name, DIMS[name], prep, wid)


def _pretrained(name: str, ck: Checkpoint):
    """The published checkpoint from the torch hub cache; downloaded only when missing."""
    import torch

    path = cache_path(ck)
    if not os.path.exists(path):
        url = URL + ck.file
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            log.info("downloading %s weights %s -> %s", name, url, path)
            torch.hub.download_url_to_file(url, path, hash_prefix=ck.file.rsplit("-", 1)[1].split(".")[0])
        except (OSError, RuntimeError, ValueError) as e:
            raise WeightsUnavailable(
                f"ImageNet weights for {name} are not in the torch cache and could not be downloaded "
                f"({type(e).__name__}: {e}). Fix either way: (1) on a machine with internet, download "
                f"{url} and copy it to {path} (the cache directory follows $TORCH_HOME), or "
                f"(2) pass --weights PATH with a local state dict of {name}; or, to try the pipeline "
                f"without any download, --weights random (an untrained network: neighbours then "
                f"reflect colour and layout, not meaning).") from None
    try:
        return _from_file(name, path)
    except WeightsUnavailable as e:
        raise WeightsUnavailable(f"cached weights {path} could not be used ({e}); "
                                 f"delete the file and retry, or pass --weights PATH") from None


def _from_file(name: str, path: str):
    """The headless network with the state dict in ``path``; every body key must match."""
    import torch
    from . import nets

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip/format errors all mean "not a usable state dict"
        raise WeightsUnavailable(f"{path}: not a loadable PyTorch state dict ({type(e).__name__}: {e})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise WeightsUnavailable(f"{path}: expected a state dict (parameter name -> tensor)")
    head = nets.HEADS[name] + "."
    body = {k.removeprefix("module."): v for k, v in state.items()}
    body = {k: v for k, v in body.items() if not k.startswith(head)}
    module = nets.headless(nets.build(name), name)
    want = set(module.state_dict())
    missing, unexpected = sorted(want - set(body)), sorted(set(body) - want)
    if missing or unexpected:
        raise WeightsUnavailable(f"{path}: not a {name} state dict ({len(missing)} keys missing, e.g. "
                                 f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]})")
    try:
        module.load_state_dict(body, strict=True)
    except RuntimeError as e:
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:3])
        raise WeightsUnavailable(f"{path}: does not fit {name}: {detail}") from None
    return module


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
