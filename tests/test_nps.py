import pytest

from feedbot.nps import Category, category_of


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
