"""Write a comparison's report: ``report.html``, ``report.md`` with its figures, ``results.csv``.

``report.html`` is one self-contained file: a Jinja2 template shipped in the package
(autoescaping on), the figures inline as base64 PNG, no script and nothing fetched,
so it opens offline and prints. ``report.md`` has the same sections and tables with
the figures as PNG files in ``figures/`` beside it. ``results.csv`` has every cell.
The content (what each section shows and when) is built in
:mod:`seqmodels.compare.sections`; the numbers come from
:mod:`seqmodels.compare.tables`.
"""

import base64
import io
import re
import time
from pathlib import Path

import pandas as pd

from .. import __version__
from .results import ARRAY_COLUMNS, oracle_gaps
from .tables import summarise

__all__ = ["report", "summarise", "load_runs"]

FIGURES_DIR = "figures"
#: The list of figure files a report wrote, kept in the figures folder: the next report
#: deletes those files (and no others) before it writes its own.
_FIGURE_MANIFEST = ".report-figures"
_PNG_DPI = 120


def _store_file(path):
    from .store import STORE_NAME

    path = Path(path)
    return path if path.suffix in (".sqlite", ".db", ".sqlite3") else path / STORE_NAME


def load_runs(store):
    """The runs recorded in a results store (metadata for the report), oldest first.

    Parameters
    ----------
    store : str or Path
        The store file, or the output folder that holds ``results.sqlite``.

    Returns
    -------
    list of dict
        As :meth:`~seqmodels.compare.ResultsStore.runs`; empty when there is no store.
    """
    from .store import ResultsStore

    file = _store_file(store)
    if not file.is_file():
        return []
    opened = ResultsStore(file)
    try:
        return opened.runs()
    finally:
        opened.close()


def _results_frame(results):
    if isinstance(results, pd.DataFrame):
        return results, None
    if isinstance(results, (str, Path)):
        from .store import load_results

        return load_results(results), results
    raise TypeError(
        "results must be the DataFrame from compare() or a store path; got "
        f"{type(results).__name__}."
    )


def _render(plot):
    """Draw one plot; return its PNG bytes, or raise what drawing raised."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=plot.size, layout="constrained")
    plot.draw(figure)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=_PNG_DPI, metadata={"Software": None})
    return png.getvalue()


def _draw_figures(sections, folder):
    """Render every plot once as PNG: a file for the Markdown, a data URI for the HTML."""
    import matplotlib

    folder.mkdir(parents=True, exist_ok=True)
    # Remove the figures an earlier report wrote here, and only those: the folder may be
    # a user's own (seqcompare run ... -o .), so other files are never touched.
    manifest = folder / _FIGURE_MANIFEST
    if manifest.is_file():
        for name in manifest.read_text().split():
            if re.fullmatch(r"\d+-[\w-]+\.png", name) and (folder / name).is_file():
                (folder / name).unlink()
    written = []
    uris, files, errors = {}, {}, {}
    number = 0
    with matplotlib.rc_context({"font.size": 9.5, "axes.titlesize": "medium"}):
        for section in sections:
            for block in section.blocks:
                if block.kind != "plot":
                    continue
                number += 1
                try:
                    png = _render(block)
                except Exception as error:  # the report is written even if one figure fails
                    errors[block.name] = f"{type(error).__name__}: {error}"
                    continue
                name = f"{number:02d}-{block.name}.png"
                (folder / name).write_bytes(png)
                written.append(name)
                uris[block.name] = "data:image/png;base64," + base64.b64encode(png).decode()
                files[block.name] = f"{FIGURES_DIR}/{name}"
    manifest.write_text("\n".join(written) + "\n")
    return uris, files, errors


def _csv_safe(frame):
    """Text cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) get a
    leading apostrophe (OWASP's advice against CSV injection); numbers are left alone."""
    frame = frame.copy()
    for column in frame.columns:
        if not (pd.api.types.is_object_dtype(frame[column])
                or pd.api.types.is_string_dtype(frame[column])):
            continue
        frame[column] = frame[column].map(
            lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")
            else v)
    return frame


def _html(title, description, sections, uris, errors, written, summary_line):
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(loader=PackageLoader("seqmodels.compare", "templates"),
                              autoescape=True, undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    template = environment.get_template("report.html.j2")
    return template.render(title=title, description=description, sections=sections,
                           figures={**{k: None for k in errors}, **uris}, errors=errors,
                           written=written, summary_line=summary_line, version=__version__)


def report(results, output_dir, title=None, description="", *, store=None, confidence=0.95,
           alpha=0.05):
    """Write ``report.html``, ``report.md`` (figures in ``figures/``) and ``results.csv``.

    Sections, each present only when the run has the data for it: summary per
    dataset (mean ± sd over seeds, interval, best and tied models), gap to the
    oracle (paired intervals, bar chart), ranks across datasets (Friedman test,
    critical-difference diagram), curves (learning, memory, noise, horizon), example
    trajectories, training curves, gradient flow, attention weights (heatmaps, for runs
    with ``attention_weights=True``), cost, calibration, failed cells, and the run's
    metadata (versions, machine, command, times) from the results store.

    Parameters
    ----------
    results : pandas.DataFrame or path
        From :func:`~seqmodels.compare.compare`, or a results store (its file or the
        folder holding ``results.sqlite``) to read.
    output_dir : str or Path
        Created if missing; the three files and ``figures/`` are (re)written there.
    title : str, optional
        Default: the suite's title recorded in the store, else "Comparison".
    description : str, optional
        Markdown shown under the title (a suite's description): paragraphs, ``*``
        bullets, ``**bold**``, ``*emphasis*`` and ```code``` are rendered in the HTML,
        everything else shows as text.
    store : str or Path, optional
        Where to read the run metadata when ``results`` is a DataFrame.
    confidence : float, default=0.95
        Of every interval.
    alpha : float, default=0.05
        Level of the tie tests and of the critical difference.

    Returns
    -------
    dict
        Paths written: "html", "markdown", "csv", and "figures" (a list); "seconds",
        the time it took.

    Examples
    --------
    >>> import tempfile
    >>> from seqmodels import AutoRegressive
    >>> from seqmodels.compare import compare, report
    >>> results = compare({"AR(1)": AutoRegressive(order=1)},
    ...                   ("ar", {"n_train": 4, "n_test": 2, "n_timesteps": 40}),
    ...                   progress=False)
    >>> paths = report(results, tempfile.mkdtemp(), title="AR(1) against the oracle")
    >>> sorted(p.name for k, p in paths.items() if k in ("html", "markdown", "csv"))
    ['report.html', 'report.md', 'results.csv']
    """
    from .sections import build_sections

    start = time.perf_counter()
    frame, source = _results_frame(results)
    if frame.empty:
        raise ValueError("results is empty; there is nothing to report.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    store = store if store is not None else source
    runs = load_runs(store) if store is not None else []
    if title is None:
        titles = [r["metadata"].get("title") for r in runs if r["metadata"].get("title")]
        title = titles[-1] if titles else "Comparison"
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    sections = build_sections(frame, runs, confidence, alpha)
    uris, files, errors = _draw_figures(sections, output_dir / FIGURES_DIR)
    written = time.strftime("%Y-%m-%d %H:%M %Z")
    counts = frame["status"].value_counts()
    n_models, n_datasets = frame["model"].nunique(), frame["dataset"].nunique()
    summary_line = (f"{len(frame)} cells, {n_models} model{'s' * (n_models != 1)}, "
                    f"{n_datasets} dataset{'s' * (n_datasets != 1)}"
                    + (f", {len(frame) - counts.get('ok', 0)} failed"
                       if counts.get("ok", 0) < len(frame) else ""))
    from .markdown import description_html, render_markdown

    html_path = output_dir / "report.html"
    html_path.write_text(_html(title, description_html(description), sections, uris, errors,
                               written, summary_line), encoding="utf-8")
    md_path = output_dir / "report.md"
    md_path.write_text(render_markdown(title, description, sections, files,
                                       f"{written}; {summary_line}"), encoding="utf-8")
    csv_path = output_dir / "results.csv"
    table = oracle_gaps(frame).drop(columns=list(ARRAY_COLUMNS))
    _csv_safe(table).to_csv(csv_path, index=False)
    return {"html": html_path, "markdown": md_path, "csv": csv_path,
            "figures": [output_dir / f for f in files.values()],
            "seconds": time.perf_counter() - start}
