import pytest

from harness.record.verdict import Verdict, aggregate

V = Verdict


@pytest.mark.parametrize(
    ("cases", "expected"),
    [
        ([], V.NOT_EVALUATED),
        ([V.PASS], V.PASS),
        ([V.PASS, V.FAIL], V.FAIL),
        ([V.ERROR, V.FAIL, V.INCONCLUSIVE], V.FAIL),
        ([V.PASS, V.ERROR], V.ERROR),
        ([V.INCONCLUSIVE, V.ERROR], V.ERROR),
        ([V.PASS, V.INCONCLUSIVE], V.INCONCLUSIVE),
        ([V.PASS, V.NOT_EVALUATED], V.NOT_EVALUATED),
        ([V.NOT_APPLICABLE], V.NOT_APPLICABLE),
        ([V.NOT_APPLICABLE, V.NOT_APPLICABLE], V.NOT_APPLICABLE),
        ([V.NOT_APPLICABLE, V.PASS], V.PASS),
        ([V.NOT_APPLICABLE, V.INCONCLUSIVE], V.INCONCLUSIVE),
    ],
)
def test_aggregation_order(cases, expected):
    assert aggregate(cases) is expected
