"""The Kaplan-Meier kernel against a curve worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from nextorder.followup.kernels.kaplan_meier import kaplan_meier


def test_a_hand_computed_curve_with_ties_and_censoring():
    # Six tickets: orders after 1, 2, 3, 5 days; censored at 2 (a tie) and 4.
    curve = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    assert curve.times.tolist() == [1, 2, 3, 5]
    assert curve.at_risk.tolist() == [6, 5, 3, 1]  # censored at 2 is still at risk at 2
    assert curve.events.tolist() == [1, 1, 1, 1]
    assert curve.survival == pytest.approx([5 / 6, 4 / 6, 4 / 6 * 2 / 3, 0.0])
    # Greenwood sums 1/30, then 1/30 + 1/20; log-log bands worked out with a calculator:
    # S^exp(±z·sqrt(V)/log S).
    assert curve.lower[:2] == pytest.approx([0.273123, 0.194617], abs=1e-6)
    assert curve.upper[:2] == pytest.approx([0.974712, 0.904434], abs=1e-6)
    assert curve.lower[-1] == curve.upper[-1] == 0.0  # everyone has ordered: no band
    assert curve.at(0.5) == 1.0 and curve.at(2.5) == pytest.approx(4 / 6)


def test_all_censored_is_a_flat_curve_and_bad_input_is_refused():
    assert kaplan_meier([3, 4], [0, 0]).times.size == 0
    assert kaplan_meier(np.array([]), np.array([])).at(10) == 1.0
    with pytest.raises(ValueError, match="not negative"):
        kaplan_meier([-1], [1])
    with pytest.raises(ValueError, match="one length"):
        kaplan_meier([1, 2], [1])
