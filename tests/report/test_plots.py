"""Plot helpers: every point inside the axes."""

import pandas as pd

from costmodel.report.plots import axis_limits


def test_axis_limits_hold_predictions_far_outside_the_measured_range():
    preds = pd.DataFrame({"measured": [1.0, 10.0], "mac": [0.01, 500.0], "full": [1.1, 9.0]})
    lo, hi = axis_limits(preds, ["mac", "full"])
    assert lo < 0.01 and hi > 500.0
