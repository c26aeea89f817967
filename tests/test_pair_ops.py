"""Pair combination operators: shapes, formulas, symmetry, L2 normalisation, errors."""

from __future__ import annotations

import numpy as np
import pytest

from src.models.differential.operators import OP_NAMES, combine

SYMMETRIC, ANTISYMMETRIC = {"abs", "sq", "prod"}, {"sub", "cube"}


@pytest.fixture
def ab() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal((5, 7)).astype(np.float32)


def test_paper_and_extra_operators_exist():
    assert set(OP_NAMES) == {"abs", "sub", "sq", "cube", "concat", "prod"}


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("l2", [True, False])
def test_output_shape(ab, name, l2):
    out = combine(name, *ab, l2_normalize=l2)
    assert out.shape == (5, 14 if name == "concat" else 7) and out.dtype == np.float32


def test_formulas_without_normalisation(ab):
    a, b = ab
    d = a - b
    expected = {"abs": np.abs(d), "sub": d, "sq": d ** 2, "cube": d ** 3, "concat": np.c_[a, b], "prod": a * b}
    for name, want in expected.items():
        np.testing.assert_allclose(combine(name, a, b, l2_normalize=False), want, rtol=1e-6)


@pytest.mark.parametrize("name", OP_NAMES)
def test_l2_normalisation_gives_unit_rows(ab, name):
    assert np.linalg.norm(combine(name, *ab), axis=1) == pytest.approx(np.ones(5), abs=1e-5)


def test_symmetric_and_antisymmetric_operators(ab):
    a, b = ab
    for name in SYMMETRIC:
        np.testing.assert_allclose(combine(name, a, b), combine(name, b, a), rtol=1e-6)
    for name in ANTISYMMETRIC:
        np.testing.assert_allclose(combine(name, a, b), -combine(name, b, a), rtol=1e-6)
    assert not np.allclose(combine("concat", a, b), combine("concat", b, a))


def test_identical_frames_give_zero_not_nan(ab):
    a = ab[0]
    assert np.all(combine("abs", a, a) == 0.0)


def test_errors_name_the_problem(ab):
    with pytest.raises(ValueError, match="unknown pair operator 'div'; valid choices: abs"):
        combine("div", *ab)
    with pytest.raises(ValueError, match="equal shapes"):
        combine("abs", ab[0], ab[1][:, :3])
