"""Every offered network gives pooled penultimate features of the documented size; --weights
PATH loads a state dict (plain, wrapped or DataParallel-prefixed) to identical features and
refuses wrong ones; preprocessing follows the checkpoint that was chosen."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sanny.workers.errors import InvalidArgument  # noqa: E402
from sanny.engine.extract import WeightsUnavailable, nets  # noqa: E402
from sanny.engine.extract.models import DIMS, load, preprocess_for  # noqa: E402

from extract_helpers import checkpoint, save_checkpoint  # noqa: E402,F401


def features(net, seed=0, n=2):
    x = torch.randn(n, 3, net.preprocess.crop, net.preprocess.crop, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        return net.module(x)


@pytest.mark.parametrize("name,dim", [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048),
                                      ("resnet101", 2048), ("resnet152", 2048), ("efficientnet_b0", 1280)])
def test_feature_dimension(name, dim):
    net = load(name, "random", image_size=64)
    assert net.dim == dim == DIMS[name] and features(net).shape == (2, dim)
    assert net.weights_id == "random:seed=0"
    assert not net.module.training and not any(p.requires_grad for p in net.module.parameters())


def test_model_name_spellings():
    assert load("ResNet-50", "random", image_size=32).name == "resnet50"
    assert load("efficientnetb0", "random", image_size=32).name == "efficientnet_b0"


def test_default_preprocessing_follows_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache: torchvision's default entry
    p = preprocess_for("resnet50")
    assert (p.resize, p.crop) == (232, 224) and p.mean == (0.485, 0.456, 0.406) and p.std == (0.229, 0.224, 0.225)
    assert (preprocess_for("resnet50", "IMAGENET1K_V1").resize, preprocess_for("resnet18").resize) == (256, 256)
    assert preprocess_for("efficientnet_b0").resample != preprocess_for("resnet50").resample  # bicubic
    # a copied-in V1 file is recognised by its published name
    assert preprocess_for("resnet50", str(tmp_path / "resnet50-0676ba61.pth")).resize == 256


def test_random_weights_are_the_same_in_every_process():
    a, b = load("resnet50", "random", image_size=64), load("resnet50", "random", image_size=64)
    assert torch.equal(features(a), features(b))
    c = load("resnet50", "random", image_size=64, seed=1)
    assert not torch.equal(features(a), features(c))


def test_state_dict_file_gives_identical_features(tmp_path):
    torch.manual_seed(3)
    model = nets.build("resnet50").eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, as trained weights have
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    torch.save(model.state_dict(), tmp_path / "mine.pth")
    net = load("resnet50", str(tmp_path / "mine.pth"), image_size=64)
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(
            model.maxpool(model.relu(model.bn1(model.conv1(x))))))))), 1)
        got = net.module(x)
    assert got.shape == (3, 2048) and torch.equal(got, expected)
    assert net.weights_id.startswith("file:")


def test_state_dict_file_reproduces_the_saved_network(checkpoint):  # noqa: F811
    from_file = load("resnet50", checkpoint, image_size=64)
    same_init = load("resnet50", "random", image_size=64, seed=7)  # how the checkpoint was made
    assert torch.equal(features(from_file), features(same_init))


def test_wrapped_and_prefixed_state_dicts(tmp_path, checkpoint):  # noqa: F811
    sd = torch.load(checkpoint, weights_only=True)
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, tmp_path / "wrapped.pt")
    net = load("resnet50", str(tmp_path / "wrapped.pt"), image_size=64)
    assert torch.equal(features(net), features(load("resnet50", checkpoint, image_size=64)))


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    save_checkpoint(str(tmp_path / "effnet.pt"), name="efficientnet_b0")
    with pytest.raises(WeightsUnavailable, match="not a resnet50 state dict"):
        load("resnet50", str(tmp_path / "effnet.pt"))
    save_checkpoint(str(tmp_path / "r18.pt"), name="resnet18")
    with pytest.raises(WeightsUnavailable, match="resnet50"):
        load("resnet50", str(tmp_path / "r18.pt"))


def test_a_missing_body_key_is_refused(tmp_path, checkpoint):  # noqa: F811
    sd = torch.load(checkpoint, weights_only=True)
    del sd["layer4.2.bn3.running_var"]
    torch.save(sd, tmp_path / "partial.pt")
    with pytest.raises(WeightsUnavailable, match="layer4.2.bn3.running_var"):
        load("resnet50", str(tmp_path / "partial.pt"))


def test_wrong_shape_is_refused(tmp_path, checkpoint):  # noqa: F811
    sd = torch.load(checkpoint, weights_only=True)
    sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(sd, tmp_path / "shape.pt")
    with pytest.raises(WeightsUnavailable, match="does not fit resnet50.*conv1.weight"):
        load("resnet50", str(tmp_path / "shape.pt"))


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(WeightsUnavailable, match="not a loadable"):
        load("resnet50", str(tmp_path / "junk.pt"))
    with pytest.raises(WeightsUnavailable, match="not 'imagenet', 'random'"):
        load("resnet50", str(tmp_path / "missing.pt"))
    with pytest.raises(WeightsUnavailable, match="IMAGENET1K_V1"):
        load("resnet18", "IMAGENET1K_V2")  # resnet18 has only V1


def test_unknown_model_and_too_small_input():
    with pytest.raises(InvalidArgument, match="unknown model"):
        load("vgg16", "random")
    with pytest.raises(InvalidArgument, match="unknown model"):
        load("inception_v3", "random")
    with pytest.raises(InvalidArgument, match="32"):
        load("resnet50", "random", image_size=16)
