import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from lrfind import Result

LRS = np.logspace(-6, 0, 61)
LOSSES = (np.log10(LRS) + 2.0) ** 2 + 1.0


def test_plot_marks_the_point_the_method_returned():
    result = Result(LRS, LOSSES, "completed", {"smoothing": 0.0})
    ax = result.plot(method="minimum")
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate (log scale)"
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(markers) == 1
    x, y = markers[0].get_xdata()[0], markers[0].get_ydata()[0]
    assert x == pytest.approx(1e-3)
    assert y == pytest.approx(2.0)  # (log10(1e-3) + 2) ** 2 + 1
    assert "minimum: 1.00e-03" in markers[0].get_label()


def test_plot_all_methods_and_raw_toggle():
    result = Result(LRS, LOSSES, "completed", {"smoothing": 0.5})
    ax = result.plot(method="all", show_raw=False)
    labels = [line.get_label() for line in ax.get_lines()]
    assert not any(label.startswith("raw") for label in labels)
    names = {label.split(":")[0] for label in labels}
    assert names >= {"auto", "steepest", "valley", "minimum", "slide"}
    with pytest.raises(ValueError, match="method"):
        result.plot(method="nope")


def test_plot_on_given_axes_and_empty_result():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert Result([], [], "non-finite loss").plot(ax=ax) is ax
    plt.close("all")
