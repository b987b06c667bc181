import dataclasses
from collections import namedtuple

import pytest
import torch

from lrfind import LRFindError
from lrfind.torch.batches import check_batch, compute_loss, prediction, to_device
from lrfind.torch.passes import Batches


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


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_compute_loss_takes_a_one_element_loss_as_a_scalar(shape):
    model = torch.nn.Linear(2, 1)
    x = torch.randn(3, 2)
    scalar = model(x).square().mean()
    loss = compute_loss(model, x, None, lambda m, b: m(b).square().mean().reshape(shape))
    assert loss.shape == ()
    assert torch.equal(loss, scalar)
    loss.backward()  # still on the graph
    assert model.weight.grad is not None


def test_compute_loss_refuses_a_real_vector():
    model = torch.nn.Linear(2, 1)
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"scalar \(one element\), got a tensor of shape \(3,\)"):
        compute_loss(model, x, None, lambda m, b: m(b).square().mean(1))
    with pytest.raises(ValueError, match=r"shape \(0,\)"):
        compute_loss(model, x, None, lambda m, b: m(b)[:0, 0])


def test_blame_notes_the_innermost_place_only():
    from lrfind.torch._blame import add_blame, blame

    with pytest.raises(KeyError) as info, blame("outer"), blame("inner"):
        raise KeyError("y")
    assert info.value.__notes__ == ["lrfind: raised inner"]
    error = ValueError("x")
    add_blame(error, "first")
    add_blame(error, "second")  # already placed: no second note
    assert error.__notes__ == ["lrfind: raised first"]
    with blame("nothing raised"):
        pass  # and a clean exit adds nothing anywhere


def test_to_device_keeps_plain_tuples_and_lists_and_their_tensors():
    cpu = torch.device("cpu")
    x, y = torch.zeros(2), torch.ones(2)
    same = to_device((x, y), cpu)
    assert type(same) is tuple
    assert same[0] is x
    assert same[1] is y
    as_list = to_device([x, y, 3, "name"], cpu)
    assert type(as_list) is list
    assert as_list[0] is x
    assert as_list[2:] == [3, "name"]
    moved = to_device((x, [y, (x,)], {"y": y}), torch.device("meta"))
    assert type(moved) is tuple
    assert type(moved[1]) is list
    assert type(moved[1][1]) is tuple
    assert moved[0].device.type == moved[1][0].device.type == moved[2]["y"].device.type == "meta"
    assert x.device == cpu  # the original is untouched


def test_compute_loss_notes_which_call_raised():
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])

    def bad_model(_: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("model")

    def bad_loss(*_: object) -> torch.Tensor:
        raise RuntimeError("loss")

    with pytest.raises(RuntimeError) as info:
        compute_loss(bad_model, (x, y), torch.nn.CrossEntropyLoss(), None)  # type: ignore[arg-type]
    assert info.value.__notes__ == ["lrfind: raised by the model's forward (model(x))"]
    with pytest.raises(RuntimeError) as info:
        compute_loss(model, [x, y], bad_loss, None)
    assert info.value.__notes__ == ["lrfind: raised by loss_fn(prediction, target)"]
    with pytest.raises(RuntimeError) as info:
        compute_loss(model, {"x": x}, None, lambda m, b: bad_loss())
    assert info.value.__notes__ == ["lrfind: raised by forward(model, batch)"]


def _order(loader):
    return [int(i) for batch in loader for i in batch[0]]


@pytest.mark.parametrize("fail", [False, True])
def test_find_puts_a_loaders_own_generators_back(fail):
    import lrfind

    x = torch.randn(40, 4)
    y = torch.randint(0, 2, (40,))
    ids = torch.arange(40)

    def loaders():
        data = torch.utils.data.TensorDataset(ids, x, y)
        train = torch.utils.data.DataLoader(
            data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1)
        )
        sampler = torch.utils.data.RandomSampler(data, generator=torch.Generator().manual_seed(2))
        val = torch.utils.data.DataLoader(data, batch_size=8, sampler=sampler)
        return train, val

    expected = [_order(loader) for loader in loaders()]
    train, val = loaders()
    model = torch.nn.Linear(4, 2)
    calls = []

    def forward(model, batch):
        calls.append(1)
        if fail and len(calls) == 9:
            raise KeyError("halfway")
        _, inputs, labels = batch
        return torch.nn.functional.cross_entropy(model(inputs), labels)

    with pytest.raises(KeyError) if fail else pytest.warns(lrfind.LRFindWarning):
        lrfind.find(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            train,
            forward=forward,
            val_data=val,
            val_batches=2,
            num_steps=12,
            progress=False,
        )
    assert len(calls) == 9 if fail else len(calls) > 12  # val is drawn afresh each step
    assert [_order(train), _order(val)] == expected
