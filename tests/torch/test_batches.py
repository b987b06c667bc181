import dataclasses
from collections import namedtuple

import pytest
import torch

from lrfind import LRFindError
from lrfind.torch.batches import Batches, check_batch, compute_loss, prediction, to_device


@dataclasses.dataclass
class Pair:
    x: torch.Tensor
    note: str


Point = namedtuple("Point", "x y")


def test_to_device_walks_nested_containers():
    t = torch.ones(2)
    batch = {"a": [t, (t, 3)], "b": Point(t, t), "c": Pair(t, "n"), "d": "text"}
    moved = to_device(batch, torch.device("meta"))
    assert moved["a"][0].device.type == "meta"
    assert moved["a"][1][0].device.type == "meta"
    assert moved["a"][1][1] == 3
    assert isinstance(moved["b"], Point)
    assert moved["b"].y.device.type == "meta"
    assert isinstance(moved["c"], Pair)
    assert moved["c"].x.device.type == "meta"
    assert moved["c"].note == "n"
    assert moved["d"] == "text"
    assert to_device(t, torch.device("cpu")) is t  # already there: no copy


def test_batches_restart_and_count():
    stream = Batches([1, 2, 3])
    assert [next(stream) for _ in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    assert stream.restarts == 2
    assert stream.seen == 7


def test_batches_errors():
    with pytest.raises(LRFindError, match="yielded no batches"):
        next(Batches([]))
    one_shot = Batches(iter([1, 2]))
    assert [next(one_shot), next(one_shot)] == [1, 2]
    with pytest.raises(LRFindError, match="ran out after 2 batches"):
        next(one_shot)
    with pytest.raises(ValueError, match="data must be an iterable"):
        Batches(3)  # type: ignore[arg-type]


def test_distributed_sampler_epoch_is_advanced_then_put_back():
    ds = torch.utils.data.TensorDataset(torch.arange(8.0))
    sampler = torch.utils.data.distributed.DistributedSampler(ds, num_replicas=2, rank=0, seed=1)
    sampler.set_epoch(5)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=sampler)
    stream = Batches(loader)
    first = [next(stream)[0].tolist() for _ in range(2)]
    second = [next(stream)[0].tolist() for _ in range(2)]
    assert sampler.epoch == 6
    assert first != second  # a new epoch shuffles differently
    stream.close()
    assert sampler.epoch == 5


def test_prediction_picks_the_tensor():
    t = torch.ones(1)
    assert prediction(t) is t
    assert prediction({"logits": t, "other": 1}) is t
    assert prediction((t, "aux")) is t

    @dataclasses.dataclass
    class Out:
        logits: torch.Tensor

    assert prediction(Out(t)) is t


def test_compute_loss_formats():
    model = torch.nn.Linear(2, 2)
    x, y = torch.randn(3, 2), torch.tensor([0, 1, 1])
    ce = torch.nn.CrossEntropyLoss()
    expected = ce(model(x), y)
    assert torch.allclose(compute_loss(model, (x, y), ce, None), expected)
    assert torch.allclose(compute_loss(model, [x, y, "index"], ce, None), expected)
    dict_model = lambda **kw: model(kw["inputs"])  # noqa: E731
    got = compute_loss(dict_model, {"inputs": x, "labels": y}, ce, None)  # type: ignore[arg-type]
    assert torch.allclose(got, expected)
    got = compute_loss(model, "anything", None, lambda m, b: ce(m(x), y))
    assert torch.allclose(got, expected)


def test_compute_loss_errors_say_what_to_pass():
    model = torch.nn.Linear(2, 2)
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="loss_fn is required"):
        check_batch((x, x), None, None)
    with pytest.raises(ValueError, match="forward is required"):
        check_batch(x, torch.nn.MSELoss(), None)
    with pytest.raises(ValueError, match="has no loss"):
        compute_loss(lambda **kw: model(kw["x"]), {"x": x}, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs labels"):
        compute_loss(lambda **kw: model(kw["x"]), {"x": x}, torch.nn.MSELoss(), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"must be a torch\.Tensor"):
        compute_loss(model, x, None, lambda m, b: 1.0)
