"""Real data: checksums verified, known values, and the ADS-B tracks are physically plausible."""

import shutil

import numpy as np
import pytest

from seqmodels.datasets import load, real


def test_classic_series_have_their_published_values():
    nile = load("nile")
    flow = nile.X_test.ravel()  # the test sequence is the whole series
    assert flow.size == 100 and flow[0] == 1120 and flow[-1] == 740
    assert flow.mean() == pytest.approx(919.35)
    assert nile.n_history == 80 and np.array_equal(nile.X_train.ravel(), flow[:80])
    lynx = load("lynx", log10=False)
    counts = lynx.X_test.ravel()
    assert counts.size == 114 and counts[0] == 269 and counts[-1] == 3396 and counts.max() == 6991
    assert load("lynx").X_train[0, 0, 0] == pytest.approx(np.log10(269))
    spots = load("sunspots", test_fraction=0.1)
    assert spots.X_test.shape[1] == 309 and spots.n_history == 278


def test_adsb_windows_are_plausible_aircraft_motion_and_split_by_flight():
    data = load("adsb", length=30)
    assert data.X_train.shape[1:] == (30, 2) and data.X_test.shape[1:] == (30, 2)
    np.testing.assert_array_equal(data.X_train[:, 0], 0.0)  # each window starts at the origin
    assert data.n_history == 1  # ... so its first step carries no skill and is not scored
    speed_m_s = np.linalg.norm(np.diff(data.X_train, axis=1), axis=-1) * 1000 / 10
    assert 40 < np.median(speed_m_s) < 250  # light calibration aircraft, 80-480 kt
    assert speed_m_s.max() < 400
    small = load("adsb", length=30, test_flights=("munich",))
    assert small.X_test.shape[0] < data.X_test.shape[0]
    with pytest.raises(ValueError, match="not in the data"):
        load("adsb", test_flights=("atlantis",))


@pytest.fixture
def copied_data(tmp_path, monkeypatch):
    source = real.resource_dir("data")
    target = tmp_path / "data"
    shutil.copytree(source, target)
    monkeypatch.setattr(real, "resource_dir", lambda kind: target)
    return target


def test_corrupted_file_is_refused_naming_it(copied_data):
    path = copied_data / "nile.csv"
    path.write_text(path.read_text().replace("1120", "1121"))
    with pytest.raises(ValueError, match="'nile.csv' is corrupted"):
        load("nile")


def test_missing_file_is_refused_naming_it(copied_data):
    (copied_data / "lynx.csv").unlink()
    with pytest.raises(ValueError, match="'lynx.csv' is missing"):
        load("lynx")


def test_every_manifest_entry_has_provenance():
    folder = real.resource_dir("data")
    for filename in real._manifest():
        note = (folder / filename).with_suffix(".md").read_text()
        assert real._manifest()[filename]["sha256"] in note
        assert "Licence" in note and "Source" in note


@pytest.mark.parametrize("name", ["nile", "lynx", "sunspots"])
def test_in_sample_fits_the_whole_series_and_test_fraction_zero_is_refused(name):
    """in_sample=True: fit and score the whole series, as published fits are made; a
    test_fraction of 0 would leave nothing held out to score and is refused."""
    data = load(name, in_sample=True)
    np.testing.assert_array_equal(data.X_train, data.X_test)
    assert data.n_history == 0 and "In-sample" in data.description
    for bad in (0.0, 0, 1.0):
        with pytest.raises(ValueError, match="test_fraction"):
            load(name, test_fraction=bad)
