import math

import pytest

from asvit.errors import AsvitError
from asvit.models import DeiTArch
from asvit.outcome.family import BASELINE_FAMILIES, front_gap, uniform_at
from asvit.outcome.references import macs_of
from asvit.space import Topology

SEED = Topology.parse("7,2,3,1|2,2,6,1|4,1,2,1|4,1,3,1|16,32")  # the default family's asvit-g00


def test_the_area_between_fronts_matches_a_hand_made_pair():
    # over x = log2 MACs from 0 to 2 the grown front is 2, 2 then 4 points above: 2 + 3 = 5
    grown = [(4.0, 20.0), (1.0, 10.0), (2.0, 14.0)]
    baseline = [(1.0, 8.0), (4.0, 16.0)]
    assert front_gap(grown, baseline) == pytest.approx({"area": 5.0, "mean_gap": 2.5, "doublings": 2.0})
    assert front_gap(baseline, grown) == pytest.approx({"area": -5.0, "mean_gap": -2.5, "doublings": 2.0})


def test_the_area_covers_only_the_macs_both_fronts_reach():
    grown = [(1.0, 10.0), (8.0, 40.0)]  # 10 points per doubling
    baseline = [(2.0, 0.0), (4.0, 0.0)]
    assert front_gap(grown, baseline) == pytest.approx({"area": 25.0, "mean_gap": 25.0, "doublings": 1.0})
    apart = front_gap([(1.0, 1.0), (2.0, 2.0)], [(4.0, 1.0), (8.0, 2.0)])
    assert math.isnan(apart["area"]) and apart["doublings"] == 0.0


def test_the_uniform_family_starts_at_the_seed_itself():
    assert uniform_at(SEED, macs_of(SEED, 32, 10), 32, 10) == SEED


def test_the_uniform_family_grows_depth_and_width_by_one_factor():
    doubled = SEED.scaled((2, 2, 2, 2), width=64)
    assert uniform_at(SEED, macs_of(doubled, 32, 10), 32, 10) == doubled


@pytest.mark.parametrize("factor", [1.7, 2.6, 3.6, 5.4])  # the default family's MACs over its seed's
@pytest.mark.parametrize("family", ["uniform", "deit"])
def test_a_baseline_member_lands_within_ten_percent_of_its_grown_member(family, factor):
    target = int(factor * macs_of(SEED, 32, 10))
    member = BASELINE_FAMILIES.lookup(family)(SEED, target, 32, 10)
    assert macs_of(member, 32, 10) == pytest.approx(target, rel=0.10)
    if family == "uniform":
        [k] = set(member.depths)
        assert member.kernels == SEED.kernels and member.heads == SEED.heads
        assert abs(math.log(k * 32 / member.width)) < 0.5  # depth and width grown by about one factor
    else:
        assert isinstance(member, DeiTArch)


def test_a_target_below_the_seed_has_no_uniform_member():
    with pytest.raises(AsvitError, match="no uniform scaling of 7,2,3,1.* within 10% of 1,000 MACs at 32 px"):
        uniform_at(SEED, 1_000, 32, 10)
