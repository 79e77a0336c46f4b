"""``sanny extract`` / ``register`` / ``search-image``: the image commands.

Imports nothing heavy at parser-build time, so every other ``sanny`` command starts fast and
works without the ``cnn`` extra. Files that cannot be used are listed, with their reason, at
the end of a run; they never stop it.
"""
from __future__ import annotations

import argparse

from .commands import cmd_extract, cmd_register, cmd_search_image


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features (use the same values when registering and searching)")
    g.add_argument("--model", default="resnet50",
                   help="resnet50 (2048-d), resnet101/152 (2048-d), resnet18/34 (512-d), efficientnet_b0 (1280-d)")
    g.add_argument("--weights", default="imagenet",
                   help="'imagenet' (torchvision's published file in the torch hub cache, e.g. "
                        "~/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth; downloaded once when online), "
                        "IMAGENET1K_V1/V2, a state-dict file, or 'random' (untrained: colour/layout only)")
    g.add_argument("--image-size", type=int, help="network input side (default: the model's, e.g. 224)")
    g.add_argument("--l2", action="store_true", help="L2-normalise features (again after PCA)")
    g.add_argument("--seed", type=int, default=0, help="initialisation seed for --weights random")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    g.add_argument("--loader-workers", type=int, help="image decoding processes (default: min(2, cores-1))")
    g.add_argument("--max-pixels", type=int, help="skip images with more pixels (default: Pillow's 89.5 M)")
    g.add_argument("--no-progress", action="store_true")


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="keys are paths relative to this (default: the directory / glob prefix)")
    p.add_argument("--all-files", action="store_true", help="try every file, not only image extensions")
    p.add_argument("--skipped-out", help="write every skipped file and its reason to this TSV")


def _target_args(p: argparse.ArgumentParser) -> None:
    t = p.add_mutually_exclusive_group(required=True)
    t.add_argument("--server", help="HOST:PORT of a running 'sanny serve'")
    t.add_argument("--index", help="embedded: an index directory (not served by anyone else)")
    p.add_argument("--token-file", help="file holding the server's bearer token")
    p.add_argument("--tls-ca", help="CA certificate (PEM) to reach a TLS server")
    p.add_argument("--timeout", type=float, default=120.0, help="per-call deadline in seconds (server)")
    p.add_argument("--pca-model", help="PCA file (.npz): written by register --pca-dim, read by search-image")


def register(subparsers) -> None:
    e = subparsers.add_parser("extract", help="CNN features of a folder/glob of images into .h5/.npz (resumable)")
    e.add_argument("source", help="directory (recursive), glob ('imgs/**/*.jpg') or one file")
    e.add_argument("--out", required=True, help="output .h5/.hdf5 (dataset 'train' + 'keys') or .npz")
    e.add_argument("--pca-dim", type=int, default=0, help="reduce to this many dims with PCA (0: off)")
    e.add_argument("--pca-sample", type=int, default=5000, help="first N images fit the PCA")
    _source_args(e)
    _model_args(e)
    e.set_defaults(fn=cmd_extract)

    r = subparsers.add_parser("register", help="extract a folder of images and insert them into an index (resumable)")
    r.add_argument("source", help="directory (recursive), glob or one file")
    _target_args(r)
    r.add_argument("--write-batch", type=int, default=256, help="images per Insert call")
    r.add_argument("--upsert", action="store_true", help="write with Upsert (replace) instead of Insert")
    r.add_argument("--redo", action="store_true", help="re-extract images already registered (implies --upsert)")
    r.add_argument("--pca-dim", type=int, default=0, help="reduce with PCA before storing (needs --pca-model)")
    r.add_argument("--pca-sample", type=int, default=5000)
    r.add_argument("--S", type=int, default=8, help="subspaces, when --index creates a new index")
    r.add_argument("--metric", choices=["l2", "cosine", "ip"], default="l2", help="for a new --index")
    _source_args(r)
    _model_args(r)
    r.set_defaults(fn=cmd_register)

    s = subparsers.add_parser("search-image", help="nearest registered images of image file(s)")
    s.add_argument("images", nargs="+", metavar="IMAGE")
    _target_args(s)
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--T", type=int, help="candidates per subspace (default: the index's)")
    s.add_argument("--html", help="write a page with the query and result thumbnails")
    s.add_argument("--images-root", default=".", help="where registered keys resolve to files (for --html)")
    s.add_argument("--html-links", action="store_true", help="link image files instead of embedding thumbnails")
    _model_args(s)
    s.set_defaults(fn=cmd_search_image)
