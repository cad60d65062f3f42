"""genlab.classifier: the MNIST classifier's training family, and the accuracy of the shipped weights."""
import json

import pytest
import torch

from genlab.classifier.export import accuracy as classifier_accuracy
from genlab.classifier.family import ClassifierFamily, random_shift
from genlab.errors import ConfigError, ModelInputError
from genlab.metrics.classifier import load_mnist_classifier, shipped_weights_path
from genlab.training.objective import Batch, BatchRandom, DataInfo


pytestmark = pytest.mark.usefixtures("one_thread")


def test_shipped_classifier_is_small_and_accurate(mnist_test):
    path = shipped_weights_path()
    assert path.stat().st_size < 1_000_000
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["test_accuracy"] >= 0.99 and {"seed", "steps"} <= set(sidecar)
    net = load_mnist_classifier()
    x, y = torch.from_numpy(mnist_test.x[:1000]), torch.from_numpy(mnist_test.y[:1000])
    assert classifier_accuracy(net, x, y) >= 0.98          # measured here, independently of the sidecar


def test_classifier_family_contract():
    fam = ClassifierFamily(data=DataInfo(kind="image", shape=(1, 28, 28), num_classes=10))
    models = fam.build_models()
    assert [p.modules for p in fam.phases()] == [("model",)]
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 1, 28, 28) * 2 - 1, torch.arange(6)
    loss, logs = fam.loss("classify", models, Batch(x, y, BatchRandom(gen, global_size=6, start=0, size=6)))
    assert loss.ndim == 0 and torch.isfinite(loss) and 0 <= logs["accuracy"] <= 1
    with pytest.raises(ModelInputError, match="labelled"):
        fam.loss("classify", models, Batch(x, None, BatchRandom(gen, global_size=6, start=0, size=6)))
    with pytest.raises(ModelInputError, match="cannot sample"):
        fam.sample(models, 4, generator=gen)
    with pytest.raises(ConfigError, match="1x28x28"):
        ClassifierFamily(data=DataInfo(kind="image", shape=(3, 32, 32), num_classes=10))


def test_random_shift_moves_pixels_by_at_most_the_limit():
    x = -torch.ones(200, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    gen = torch.Generator().manual_seed(1)
    out = random_shift(x, BatchRandom(gen, global_size=200, start=0, size=200), 2)
    where = (out[:, 0] == 1).nonzero()[:, 1:] - 4                       # (200, 2) offsets of the bright pixel
    assert len(where) == 200 and where.abs().max() == 2
    assert set(out.unique().tolist()) == {-1.0, 1.0}
