"""Real data shipped in ``data/``: classic series and real aircraft trajectories.

Every file is listed in ``data/manifest.json`` with its SHA-256; the checksum is verified
on every load, and a missing or corrupted file raises an error naming it. Provenance and
licence of each file are in ``data/NAME.md``; ``data/make_real.py`` made them.
"""

import csv
import hashlib
import io
import json

import numpy as np

from ..utils.resources import resource_dir
from .checks import check_bool, check_int, check_real
from ._record import Dataset
from ._registry import register

__all__ = ["read_table", "nile", "sunspots", "lynx", "adsb"]


class DataFileError(ValueError):
    """A shipped data file is missing, corrupted or not in the manifest."""


def _manifest():
    folder = resource_dir("data")
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(
            f"data/manifest.json is missing from {folder}; reinstall seqmodels."
        ) from None


def read_table(filename):
    """Read a shipped CSV file after verifying its checksum.

    Parameters
    ----------
    filename : str
        A file listed in ``data/manifest.json``, e.g. ``"nile.csv"``.

    Returns
    -------
    dict of str -> list of str
        The columns, by header name, as text.

    Raises
    ------
    DataFileError (a ValueError)
        The file is not in the manifest, is missing, or its SHA-256 differs from the
        manifest's (corrupted or edited).
    """
    manifest = _manifest()
    if filename not in manifest:
        raise DataFileError(f"{filename!r} is not a shipped data file; known: {sorted(manifest)}.")
    path = resource_dir("data") / filename
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"data file {filename!r} is missing ({path}); reinstall seqmodels.") \
            from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != manifest[filename]["sha256"]:
        raise DataFileError(
            f"data file {filename!r} is corrupted: its SHA-256 is {digest}, the manifest says "
            f"{manifest[filename]['sha256']} ({path})."
        )
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    return {name: [row[i] for row in body] for i, name in enumerate(header)}


def _series_dataset(name, years, values, test_fraction, in_sample, description, params):
    series = np.asarray(values, dtype=float)
    in_sample = check_bool(in_sample, "in_sample")
    if in_sample:
        # Fit and score the whole series, as published fits (Durbin & Koopman's Nile,
        # Moran's lynx) are made; test_fraction is not used.
        n_train, split = len(values), (
            f" In-sample (in_sample=True): models fit the whole series {years[0]}-{years[-1]} "
            "and are scored on their one-step predictions of it; this reproduces published "
            "fits but says nothing about forecasting new years. Real data: no oracle.")
    else:
        test_fraction = check_real(test_fraction, "test_fraction", 0.0, 1.0,
                                   include_low=False, include_high=False)
        n_train = len(values) - max(1, int(round(len(values) * test_fraction)))
        if n_train < 1:
            raise ValueError(
                f"test_fraction={test_fraction!r} holds out all {len(values)} years; it must "
                "leave at least one for training (or pass in_sample=True for an in-sample "
                "fit).")
        split = (
            f" Train: {years[0]}-{years[n_train - 1]}. Test: one-step forecasts of "
            f"{years[n_train]}-{years[-1]}, each from the whole history before it (X_test is "
            "the whole series; n_history marks the training years as context). "
            "Real data: no oracle.")
    return Dataset(
        name=name,
        X_train=series[:n_train].reshape(1, -1, 1), y_train=None,
        X_test=series.reshape(1, -1, 1), y_test=None,
        task="forecast", truth={"years": np.asarray(years, dtype=int)}, oracle=None,
        n_history=n_train if n_train < len(values) else 0,
        description=description + split,
        params=params,
    )


@register("nile")
def nile(test_fraction=0.2, in_sample=False):
    """Nile river annual flow at Aswan, 1871-1970 (10^8 m^3): the classic local-level series.

    Parameters
    ----------
    test_fraction : float
        Share of the final years held out as the test sequence, in ``(0, 1)``: at least
        one year is held out, and at least one must be left for training. 0 is refused
        (nothing would be left to score): ask for an in-sample fit with ``in_sample``.
    in_sample : bool, default=False
        Fit and score the whole series (how published fits are made, e.g. Durbin &
        Koopman's); ``test_fraction`` is then not used, and the scores say nothing about
        forecasting new years.

    Returns
    -------
    Dataset
        Task "forecast"; X_train (1, n_train_years, 1), X_test the whole series
        (1, n_years, 1) with ``n_history = n_train_years``.
    """
    table = read_table("nile.csv")
    years = [int(y) for y in table["year"]]
    return _series_dataset("nile", years, [float(v) for v in table["flow"]], test_fraction,
                           in_sample, "Annual Nile flow at Aswan (Durbin & Koopman 2012).",
                           {"test_fraction": test_fraction, "in_sample": in_sample})


@register("sunspots")
def sunspots(test_fraction=0.2, in_sample=False):
    """Yearly mean sunspot number, 1700-2008: the ~11-year cycle (Yule 1927).

    Parameters
    ----------
    test_fraction : float
        Share of the final years held out, in ``(0, 1)`` (see :func:`nile`).
    in_sample : bool, default=False
        Fit and score the whole series (see :func:`nile`).

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (1, n_years, 1).
    """
    table = read_table("sunspots.csv")
    years = [int(y) for y in table["year"]]
    return _series_dataset("sunspots", years, [float(v) for v in table["sunspots"]],
                           test_fraction, in_sample, "Yearly mean sunspot number (NOAA NGDC).",
                           {"test_fraction": test_fraction, "in_sample": in_sample})


@register("lynx")
def lynx(test_fraction=0.2, log10=True, in_sample=False):
    """Canadian lynx trappings, 1821-1934: a ~10-year predator cycle, usually on the log10 scale.

    Parameters
    ----------
    test_fraction : float
        Share of the final years held out, in ``(0, 1)`` (see :func:`nile`).
    log10 : bool
        Model ``log10(trappings)`` (Campbell & Walker 1977) instead of the raw counts
        (True or False; anything else is a TypeError).
    in_sample : bool, default=False
        Fit and score the whole series (see :func:`nile`).

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (1, n_years, 1).
    """
    log10 = check_bool(log10, "log10")
    table = read_table("lynx.csv")
    years = [int(y) for y in table["year"]]
    values = np.array([float(v) for v in table["trappings"]])
    return _series_dataset("lynx", years, np.log10(values) if log10 else values, test_fraction,
                           in_sample, "Annual Canadian lynx trappings (Brockwell & Davis 1991)"
                           + (", log10 scale." if log10 else "."),
                           {"test_fraction": test_fraction, "log10": log10,
                            "in_sample": in_sample})


@register("adsb")
def adsb(length=60, test_flights=("kiruna", "lisbon", "montreal", "vienna")):
    """Real aircraft trajectories (ADS-B, calibration flights): forecast the next reported position.

    Each flight of ``data/adsb_calibration.csv`` (positions every 10 s in a local
    east/north frame) is cut into non-overlapping windows of ``length`` steps; each
    window is shifted to start at the origin and given in kilometres. Flights in
    ``test_flights`` make the test set, the others the training set, so no flight is in
    both. Every window starts at the origin, so its first position is known to every model
    that has seen the training windows (and to none that has not): it carries no
    forecasting skill, and the first step of each test window is context
    (``n_history = 1``), not scored.

    What the truth is and is not: the inputs are the aircraft's own GNSS-based position
    reports (accurate to tens of metres), not surveyed true positions; the target of
    a forecast is the next *reported* position. There is no oracle.

    Parameters
    ----------
    length : int
        Window length in steps of 10 s (>= 2); both the training and the test flights
        must be at least that long.
    test_flights : sequence of str
        Flight names held out for testing (a list or tuple; not a single string).

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n_windows, length, 2) in km (east, north);
        ``n_history = 1``.
    """
    length = check_int(length, "length", minimum=2)
    if not isinstance(test_flights, (list, tuple, np.ndarray)) or not all(
            isinstance(flight, str) for flight in test_flights):
        raise TypeError(f"test_flights must be a list or tuple of flight names (strings); got "
                        f"{test_flights!r}.")
    table = read_table("adsb_calibration.csv")
    flights = np.array(table["flight"])
    names = list(dict.fromkeys(flights))
    unknown = sorted(set(test_flights) - set(names))
    if unknown:
        raise ValueError(f"test_flights {unknown} are not in the data; flights: {names}.")
    positions = np.column_stack([np.array(table["east_m"], dtype=float),
                                 np.array(table["north_m"], dtype=float)]) / 1000.0
    windows = {"train": [], "test": []}
    for name in names:
        track = positions[flights == name]
        n_windows = len(track) // length
        cut = track[: n_windows * length].reshape(n_windows, length, 2)
        windows["test" if name in test_flights else "train"].append(cut - cut[:, :1])
    if not windows["train"] or not windows["test"]:
        raise ValueError("test_flights must leave at least one flight for each of train and test.")
    for split, cuts in windows.items():
        if not sum(len(cut) for cut in cuts):
            longest = max(int((flights == name).sum()) for name in names
                          if (name in test_flights) == (split == "test"))
            raise ValueError(
                f"length={length} leaves no window in the {split} flights (the longest has "
                f"{longest} steps); choose a shorter length.")
    X_train, X_test = (np.concatenate(windows[k]) for k in ("train", "test"))
    return Dataset(
        name="adsb", X_train=X_train, y_train=None, X_test=X_test, y_test=None,
        task="forecast", truth={"dt_seconds": 10.0, "units": "km", "flights": names},
        oracle=None, n_history=1,
        description=(
            f"Real ADS-B tracks of {len(names)} calibration flights (OpenSky, via traffic), "
            f"10 s steps, windows of {length} steps in km. Inputs are the aircraft's own GNSS "
            "position reports (tens of metres accuracy), not true positions; the target is the "
            "next reported position. Each window starts at the origin: its first step is "
            "context, not scored. No oracle."),
        params={"length": length, "test_flights": tuple(test_flights)},
    )
