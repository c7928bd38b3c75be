"""Quantizer: round trips within a bin, ties and constant features, JSON, tabular CSV loading."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.quantize import Quantizer, fit_quantizer, load_tabular_csv


def _windows(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(50, 16, 3))
    x[..., 1] = rng.exponential(size=(50, 16))  # skewed
    return x.astype(np.float32)


@pytest.mark.parametrize("method", ["quantile", "uniform"])
@pytest.mark.parametrize("shape", [(50, 16, 3), (800, 3)])
def test_round_trip_stays_within_the_bin(method: str, shape: tuple[int, ...]) -> None:
    x = _windows().reshape(shape)
    q = fit_quantizer(x, 49, method)
    s = q.encode(x)
    assert s.shape == x.shape and s.dtype == np.int32
    assert s.min() >= 0 and (s.max(axis=tuple(range(s.ndim - 1))) < q.bins_per_feature).all()
    width = q.bin_widths(s)
    tol = 1e-5 * (1 + np.abs(x))
    for mode, key in (("center", None), ("uniform", jax.random.key(1))):
        y = np.asarray(q.decode(s, key, mode=mode))
        assert y.shape == x.shape and y.dtype == np.float32
        assert (np.abs(y - x) <= width + tol).all(), mode
        # Decoded values fall back into their own bin (the bins partition the range).
        assert (q.encode(y) == s).mean() > 0.999, mode
    centre = np.asarray(q.decode(s, mode="center"))
    assert (np.abs(centre - x) <= width / 2 + tol).all()
    # Uniform decoding really spreads inside the bin; it is not the centre.
    spread = np.asarray(q.decode(s, jax.random.key(2)))
    assert np.abs(spread - centre).mean() > 0.05 * width.mean()
    # Bounded by the training range in both modes.
    lo, hi = x.reshape(-1, 3).min(0), x.reshape(-1, 3).max(0)
    assert (spread.reshape(-1, 3) >= lo - 1e-6).all() and (spread.reshape(-1, 3) <= hi + 1e-6).all()


def test_quantile_bins_handle_ties_without_empty_bins_or_duplicate_edges() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    point_mass = np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n))  # 40% exact zeros
    discrete = rng.integers(0, 6, n).astype(float) * 0.5  # 6 distinct values
    heavy_tail = np.concatenate([np.full(n // 2, 3.0), rng.normal(size=n - n // 2)])
    x = np.stack([point_mass, discrete, heavy_tail], axis=1)
    q = fit_quantizer(x, 49, "quantile", feature_names=("a", "b", "c"))
    assert q.bins_per_feature.tolist()[1] == 6  # one bin per distinct value
    assert q.bins_per_feature[0] == 49 and q.bins_per_feature[2] == 49
    s = q.encode(x)
    for f, edges in enumerate(q.edges):
        assert (np.diff(edges) > 0).all(), f"duplicate edges in feature {f}"
        counts = np.bincount(s[:, f], minlength=q.bins_per_feature[f])
        assert counts.size == q.bins_per_feature[f] and counts.min() >= 1, f"empty bin in {f}"
    # The point mass gets a bin of its own and the others share the rest evenly.
    zero_bin = q.encode(np.zeros((1, 3)))[0, 0]
    assert (x[s[:, 0] == zero_bin, 0] == 0).all()
    others = np.bincount(s[:, 0])[np.arange(49) != zero_bin]
    assert others.max() <= 2.5 * others.min()
    # Each discrete value decodes to a value inside its own half-gap.
    centre = np.asarray(q.decode(q.encode(x)))[:, 1]
    assert np.abs(centre - x[:, 1]).max() <= 0.25 + 1e-6
    # Equal-frequency on continuous data: counts within a few of N / bins.
    cont = rng.normal(size=(4900, 1))
    counts = np.bincount(fit_quantizer(cont, 49).encode(cont)[:, 0])
    assert counts.min() >= 95 and counts.max() <= 105


@pytest.mark.parametrize("method", ["quantile", "uniform"])
def test_constant_feature_has_one_bin_and_decodes_exactly(method: str) -> None:
    x = np.stack([np.full(30, 2.5), np.linspace(0, 1, 30)], axis=1)
    q = fit_quantizer(x, 49, method)
    assert q.bins_per_feature[0] == 1
    assert q.valid_mask()[0].tolist() == [True] + [False] * 48
    s = q.encode(x)
    assert (s[:, 0] == 0).all()
    for key in (None, jax.random.key(0)):
        assert (np.asarray(q.decode(s, key))[:, 0] == np.float32(2.5)).all()
    # A symbol the feature does not use decodes as its last bin, not out of range.
    assert float(q.decode(np.asarray([[40, 0]]))[0, 0]) == 2.5


def test_out_of_range_values_clamp_to_the_outer_bins() -> None:
    q = fit_quantizer(np.linspace(-1, 1, 101)[:, None], 10, "uniform")
    s = q.encode(np.asarray([[-5.0], [-1.0], [0.999], [1.0], [7.0]]))
    assert s[:, 0].tolist() == [0, 0, 9, 9, 9]
    with pytest.raises(ValueError, match="NaN"):
        q.encode(np.asarray([[np.nan]]))
    with pytest.raises(ValueError, match="1 features"):
        q.encode(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="needs a key"):
        q.decode(s, mode="uniform")


def test_json_round_trip_is_exact_and_rejects_bad_input() -> None:
    x = _windows(1)
    q = fit_quantizer(x, 17, feature_names=("x", "y", "z"))
    text = json.dumps(q.to_json())
    back = Quantizer.from_json(json.loads(text))
    assert back.feature_names == ("x", "y", "z") and back.num_bins == 17
    for a, b in zip(q.edges, back.edges, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.encode(x), q.encode(x))
    with pytest.raises(ValueError, match="lacks"):
        Quantizer.from_json({"method": "quantile"})
    with pytest.raises(ValueError, match="increasing"):
        Quantizer("quantile", 4, (np.asarray([0.0, 1.0, 1.0]),))
    with pytest.raises(ValueError, match="NaN"):
        fit_quantizer(np.asarray([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="method"):
        fit_quantizer(x, 10, "kmeans")


def test_tabular_csv_loads_numbers_and_names(tmp_path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text("duration,bytes, packets\n0.5,100,3\n\n1.25,2e3,-4\n")
    values, names = load_tabular_csv(path)
    assert names == ("duration", "bytes", "packets")
    np.testing.assert_array_equal(values, [[0.5, 100, 3], [1.25, 2000, -4]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3,x7\n", r"line 3, column 'b': 'x7' is not a number"),
        ("a,b\n1,2\n\n3,\n", r"line 4, column 'b': the cell is empty"),
        ("a,b\n1,nan\n", r"line 2, column 'b': the cell 'nan' is not a finite number"),
        ("a,b\n1,2\n3\n", r"line 3 has 1 cells, expected 2"),
        ("a,a\n1,2\n", r"duplicate column 'a'"),
        ("a,b\n", r"no data rows"),
    ],
)
def test_bad_tabular_csv_names_file_line_and_column(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message) as err:
        load_tabular_csv(path)
    assert str(path) in str(err.value)
    with pytest.raises(DataFormatError, match="no such file"):
        load_tabular_csv(tmp_path / "missing.csv")
