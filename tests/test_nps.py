import pytest

from feedbot.nps import Category, NpsEstimate, category_of, nps_difference


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (0, Category.DETRACTOR),
        (6, Category.DETRACTOR),
        (7, Category.PASSIVE),
        (8, Category.PASSIVE),
        (9, Category.PROMOTER),
        (10, Category.PROMOTER),
    ],
)
def test_category_bands(score: int, category: Category) -> None:
    assert category_of(score) is category


@pytest.mark.parametrize("score", [-1, 11])
def test_scores_outside_the_scale_are_refused(score: int) -> None:
    with pytest.raises(ValueError, match="0–10"):
        category_of(score)


# Hand-computed: with n answers, p = promoter share, d = detractor share,
# NPS = 100 (p - d), Var(one answer) = 100² (p + d - (p - d)²),
# SE = sqrt(Var / n), 95% CI = NPS ± 1.959964 SE (kept within -100…100).
@pytest.mark.parametrize(
    ("n", "promoters", "detractors", "nps", "se", "low", "high"),
    [
        # p .5, d .2: Var = 10000 (.7 - .09) = 6100, SE = sqrt(610) = 24.6982
        (10, 5, 2, 30.0, 24.698178, -18.407540, 78.407540),
        # p .2, d .4: Var = 10000 (.6 - .04) = 5600, SE = sqrt(280) = 16.733201
        (20, 4, 8, -20.0, 16.733201, -52.796470, 12.796470),
        # p .45, d .15, n 400: Var = 10000 (.6 - .09) = 5100, SE = sqrt(12.75) = 3.570714
        (400, 180, 60, 30.0, 3.570714, 23.001529, 36.998471),
        # everyone a promoter: no spread at all
        (4, 4, 0, 100.0, 0.0, 100.0, 100.0),
        # one detractor of two: 100 (0 - .5) = -50; Var = 10000 (.5 - .25) = 2500,
        # SE = sqrt(1250) = 35.355339; the interval's low end is cut at -100
        (2, 0, 1, -50.0, 35.355339, -100.0, 19.295191),
    ],
)
def test_nps_and_its_interval_by_hand(
    n: int, promoters: int, detractors: int, nps: float, se: float, low: float, high: float
) -> None:
    estimate = NpsEstimate(n, promoters, detractors)
    assert estimate.nps == pytest.approx(nps)
    assert estimate.standard_error == pytest.approx(se, abs=1e-6)
    interval = estimate.interval()
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-6)
    assert interval[1] == pytest.approx(high, abs=1e-6)


def test_an_empty_sample_has_no_nps() -> None:
    empty = NpsEstimate(0, 0, 0)
    assert (empty.nps, empty.standard_error, empty.interval()) == (None, None, None)
    assert empty.share(0) is None
    assert nps_difference(empty, NpsEstimate(3, 1, 1)) is None


def test_the_difference_of_two_samples_by_hand() -> None:
    # 30 (SE sqrt 610) against -20 (SE sqrt 280): 50, SE sqrt(890) = 29.832868
    diff = nps_difference(NpsEstimate(10, 5, 2), NpsEstimate(20, 4, 8))
    assert diff is not None
    assert diff.difference == pytest.approx(50.0)
    assert diff.standard_error == pytest.approx(29.832868, abs=1e-6)
    assert diff.interval == pytest.approx((-8.471346, 108.471346), abs=1e-6)
    assert not diff.clear  # the interval holds 0
    clear = nps_difference(NpsEstimate(400, 180, 60), NpsEstimate(400, 60, 180))
    assert clear is not None and clear.clear and clear.difference == pytest.approx(60.0)


def test_the_rest_of_a_sample() -> None:
    everyone, mentioning = NpsEstimate(100, 40, 30), NpsEstimate(25, 5, 15)
    rest = everyone - mentioning
    assert (rest.responses, rest.promoters, rest.detractors, rest.passives) == (75, 35, 15, 25)
