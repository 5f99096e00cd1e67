import numpy as np
import pytest

from nas4cnn.core.errors import DataError
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources.digits import load_digits


def test_digits_split_is_the_seeds():
    d = load_digits()
    assert (len(d.train), len(d.val), len(d.test)) == (1000, 350, 447)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert float(d.train.x.max()) == 16.0


def good():
    x = np.zeros((4, 6, 6), np.float32)
    y = np.array([0, 1, 0, 1])
    return {"train": (x, y), "val": (x, y), "test": (x, y)}


def test_channels_are_added_for_grey_images():
    assert DataSet.from_arrays("ok", good()).input_shape == (1, 6, 6)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda s: s.update(val=(s["val"][0], np.array([0, 1, 0, 5]))), "labels must lie in 0..1"),
        (lambda s: s.update(val=(s["val"][0], np.array([0, 1, -1, 1]))), "labels must be class indices 0, 1, ..."),
        (lambda s: s.update(test=(s["test"][0][:0], s["test"][1][:0])), "the test split is empty"),
        (lambda s: s.update(train=(s["train"][0], s["train"][1][:3])), "labels of shape"),
        (lambda s: s.update(val=(np.zeros((4, 5, 6), np.float32), s["val"][1])), "image shapes differ"),
        (lambda s: s.update(train=(np.full((4, 6, 6), np.nan, np.float32), s["train"][1])), "non-finite"),
        (lambda s: s.update(train=(np.zeros((4, 6), np.float32), s["train"][1])), "N x H x W"),
        (lambda s: s.pop("val"), "the val split is missing"),
    ],
)
def test_bad_data_is_explained(change, fragment):
    splits = good()
    change(splits)
    with pytest.raises(DataError) as e:
        DataSet.from_arrays("bad", splits, num_classes=2)
    assert fragment in str(e.value)
