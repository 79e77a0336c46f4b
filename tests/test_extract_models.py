"""The three networks give pooled penultimate features of the documented size; --weights
PATH loads a state dict (wrapped, DataParallel-prefixed or plain) and refuses wrong ones."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from sanny.workers.errors import InvalidArgument  # noqa: E402
from sanny.engine.extract import WeightsUnavailable  # noqa: E402
from sanny.engine.extract.models import load, preprocess_for  # noqa: E402

from extract_helpers import checkpoint  # noqa: E402,F401


def features(net, seed=0, n=2):
    x = torch.randn(n, 3, net.preprocess.crop, net.preprocess.crop, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        return net.module(x)


@pytest.mark.parametrize("name,size,dim", [("resnet50", 64, 2048), ("efficientnet_b0", 64, 1280),
                                           ("inception_v3", 75, 2048)])
def test_feature_dimension(name, size, dim):
    net = load(name, "random", image_size=size)
    assert net.dim == dim and features(net).shape == (2, dim)
    assert net.weights_id == "random:seed=0"


def test_default_preprocessing_comes_from_the_weights_entry():
    p = preprocess_for("inception_v3")
    assert (p.resize, p.crop) == (342, 299)
    assert p.mean == (0.485, 0.456, 0.406)


def test_random_weights_are_the_same_in_every_process():
    a, b = load("resnet50", "random", image_size=64), load("resnet50", "random", image_size=64)
    assert torch.equal(features(a), features(b))
    c = load("resnet50", "random", image_size=64, seed=1)
    assert not torch.equal(features(a), features(c))


def test_state_dict_file_reproduces_the_saved_network(checkpoint):  # noqa: F811
    from_file = load("resnet50", checkpoint, image_size=64)
    same_init = load("resnet50", "random", image_size=64, seed=7)  # how the checkpoint was made
    assert torch.allclose(features(from_file), features(same_init))
    assert from_file.weights_id.startswith("file:")


def test_wrapped_and_prefixed_state_dicts(tmp_path, checkpoint):  # noqa: F811
    sd = torch.load(checkpoint, weights_only=True)
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, tmp_path / "wrapped.pt")
    net = load("resnet50", str(tmp_path / "wrapped.pt"), image_size=64)
    assert torch.allclose(features(net), features(load("resnet50", checkpoint, image_size=64)))


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    from torchvision import models

    torch.save(models.efficientnet_b0().state_dict(), tmp_path / "effnet.pt")
    with pytest.raises(WeightsUnavailable, match="resnet50"):
        load("resnet50", str(tmp_path / "effnet.pt"))


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(WeightsUnavailable, match="not a loadable"):
        load("resnet50", str(tmp_path / "junk.pt"))
    with pytest.raises(WeightsUnavailable, match="not 'imagenet', 'random'"):
        load("resnet50", str(tmp_path / "missing.pt"))


def test_unknown_model_and_too_small_input():
    with pytest.raises(InvalidArgument, match="unknown model"):
        load("vgg16", "random")
    with pytest.raises(InvalidArgument, match="75"):
        load("inception_v3", "random", image_size=64)
