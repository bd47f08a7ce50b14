"""The ``seqcompare`` command.

    seqcompare run [SUITE|FILE] [--output DIR] [--jobs N] [--scheduler ADDR | --cluster local:N]
                   [--quick] [--fresh] [--retry-failed] [--timeout S] [--progress MODE]
    seqcompare list [models|datasets|suites]
    seqcompare show SUITE [--quick]
    seqcompare status DIR
    seqcompare report DIR
    seqcompare --version

Exit codes: 0 the comparison ran and measured every cell (``ok``, or ``diverged``: a
training run that diverged is a result, shown in the report); 1 some cells broke (an
error that is not a measured outcome, a timeout, a lost worker; the report is still
written); 2 bad usage, a bad suite or an unusable output folder (nothing ran);
130 / 143 interrupted by Ctrl-C / SIGTERM (finished cells are kept: rerun to resume).
"""

import argparse
import inspect
import re
import sys
from pathlib import Path

from .. import __version__, all_estimators
from ..datasets import has_oracle, list_datasets
from .store import MEASURED

DEFAULT_OUTPUT = "reports/{suite}"
EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE = 0, 1, 2


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _cluster(text):
    kind, _, count = text.partition(":")
    if kind != "local" or not count:
        raise argparse.ArgumentTypeError(f"expected local:N (e.g. local:2), got {text!r}")
    return _positive_int(count)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="seqcompare",
        description="Compare sequence models against each other and against the oracle.",
        epilog="Exit codes: 0 all cells ok, 1 some cells failed, 2 bad usage or suite, "
               "130/143 interrupted (rerun to resume).",
    )
    parser.add_argument("--version", action="version", version=f"seqcompare {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a comparison suite and write its report")
    run.add_argument("suite", nargs="?", default="default",
                     help="a built-in suite (see 'seqcompare list') or a .toml file "
                          "(default: %(default)s)")
    run.add_argument("--output", "-o", default=None,
                     help="folder for the results store and the report (default: reports/SUITE)")
    run.add_argument("--jobs", "-j", type=_positive_int, default=1,
                     help="local worker processes (default: 1, in this process)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR",
                       help="run the cells on a Dask cluster (tcp://HOST:PORT)")
    where.add_argument("--cluster", type=_cluster, metavar="local:N",
                       help="start a Dask LocalCluster of N worker processes")
    run.add_argument("--quick", action="store_true", help="apply the suite's [quick] overrides")
    run.add_argument("--fresh", action="store_true",
                     help="forget stored results and start over (default: resume)")
    run.add_argument("--retry-failed", action="store_true",
                     help="run again the cells that failed or timed out before")
    run.add_argument("--timeout", type=_positive_float, metavar="S",
                     help="seconds per cell; slower cells are recorded as timeout")
    run.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                     help="a bar on a terminal, plain lines elsewhere (default: auto)")

    listing = commands.add_parser("list", help="list built-in suites, models or datasets")
    listing.add_argument("what", nargs="?", choices=("suites", "models", "datasets"),
                         default="suites")

    show = commands.add_parser("show", help="show a suite's expanded grid without running it")
    show.add_argument("suite")
    show.add_argument("--quick", action="store_true")

    status = commands.add_parser("status", help="done / pending / failed cells of an output folder")
    status.add_argument("output")

    rewrite = commands.add_parser("report", help="rewrite the report of an output folder")
    rewrite.add_argument("output")
    return parser


def default_output(name):
    """``reports/NAME``: one folder inside ``reports/`` whatever the suite's name.

    A suite file's name is its file name without ``.toml``, which can be ``..``
    (``...toml``) or ``.``: those, and separators, would otherwise put the results, the
    report and its ``figures/`` (whose old PNGs a report replaces) outside ``reports/``.
    """
    safe = re.sub(r"[\\/]+", "_", str(name)).strip(" .") or "suite"
    return DEFAULT_OUTPUT.format(suite=safe)


def _error(message):
    print(f"seqcompare: {message}", file=sys.stderr)
    return EXIT_USAGE


def _list(what):
    if what == "suites":
        from .suite import builtin_suites, load_suite

        for name in builtin_suites():
            print(f"{name:<14} {load_suite(name).title}")
    elif what == "models":
        for name, cls in all_estimators():
            summary = (inspect.getdoc(cls) or "").splitlines()[0]
            print(f"{name:<26} {summary}")
    else:
        for name, summary in list_datasets().items():
            mark = "oracle" if has_oracle(name) else "      "
            print(f"{name:<22} {mark}  {summary}")
    return EXIT_OK


def _show(name, quick):
    from .suite import load_suite

    suite = load_suite(name)
    if quick:
        suite = suite.quick()
    cells = suite.cells()
    oracle = sum(c.is_oracle for c in cells)
    print(f"{suite.title}\n{len(cells)} cells ({len(cells) - oracle} model cells, {oracle} oracle "
          f"cells): {len(suite.models)} models x {len(suite.datasets)} datasets x "
          f"{len(suite.seeds)} data seeds"
          + (f" x {len(suite.model_seeds)} model seeds" if suite.model_seeds else "")
          + (f" x {len(suite.train_sizes)} training sizes" if suite.train_sizes else "")
          + (f" x {len(suite.sweep['values'])} values of {suite.sweep['dataset_param']}"
             if suite.sweep else ""))
    for cell in cells:
        print(f"  {cell.key[:10]}  {cell.title()}")
    return EXIT_OK


def _store_file(output):
    from .store import STORE_NAME

    file = Path(output) / STORE_NAME
    if not file.is_file():
        raise ValueError(f"no results store in {str(output)!r} (expected {STORE_NAME}); "
                         "run 'seqcompare run --output DIR' first.")
    return file


def _last_suite(store):
    runs = [r for r in store.runs() if r["metadata"].get("suite_source")]
    if not runs:
        return None, None
    meta = runs[-1]["metadata"]
    from .suite import load_suite

    try:
        suite = load_suite(meta["suite_source"])
    except ValueError:
        return None, meta
    return (suite.quick() if meta.get("quick") else suite), meta


def _status(output):
    from .store import ResultsStore

    store = ResultsStore(_store_file(output))
    try:
        suite, _ = _last_suite(store)
        if suite is None:
            counts = store.status_counts()
            print(f"{sum(counts.values())} cells stored: " + _counts_text(counts))
            return EXIT_OK
        keys = {c.key for c in suite.cells()}
        counts = store.status_counts(keys)
        pending = len(keys) - sum(counts.values())
        diverged = counts.get("diverged", 0)
        print(f"{suite.title}: {len(keys)} cells: {counts.get('ok', 0)} done, "
              + (f"{diverged} diverged, " if diverged else "")
              + f"{pending} pending, {counts.get('error', 0)} failed, "
              f"{counts.get('timeout', 0)} timed out")
        runs = store.runs()
        if runs:
            last = runs[-1]
            print(f"last run: {last['status']}, started by {last['metadata'].get('command', '?')}")
        measured = sum(counts.get(status, 0) for status in MEASURED)
        return EXIT_OK if not pending and measured == len(keys) else EXIT_FAILED_CELLS
    finally:
        store.close()


def _counts_text(counts):
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"


def _write_report(results, output, suite):
    from .report import report

    title = suite.title if suite is not None else None  # None: the title the store recorded
    description = suite.description if suite is not None else ""
    return report(results, output, title=title, description=description, store=output)


def _report(output):
    from .store import ResultsStore, load_results

    file = _store_file(output)
    store = ResultsStore(file)
    try:
        suite, _ = _last_suite(store)
        keys = {c.key for c in suite.cells()} if suite is not None else None
    finally:
        store.close()
    results = load_results(file, keys)
    if results.empty:
        return _error(f"the store in {str(output)!r} holds no cells of its last suite.")
    paths = _write_report(results, output, suite)
    print(f"{len(results)} cells -> {paths['html']}, {paths['markdown']} "
          f"({paths['seconds']:.1f} s)")
    return EXIT_OK


def _run(args):
    from .engine import RunInterrupted, compare
    from .suite import load_suite

    suite = load_suite(args.suite)
    output = Path(args.output or default_output(suite.name))
    progress = {"none": False, "auto": "bar" if sys.stderr.isatty() else "lines"}.get(
        args.progress, args.progress)
    backend, scheduler, jobs = None, None, args.jobs
    if args.scheduler:
        backend, scheduler = "dask", args.scheduler
    elif args.cluster:
        backend, jobs = "dask", args.cluster
    try:
        from .store import ResultsStore

        ResultsStore(output).close()  # an unusable folder fails here, before any cell
        results = compare(suite, store=output, n_jobs=jobs, backend=backend,
                          scheduler=scheduler, timeout=args.timeout, progress=progress,
                          fresh=args.fresh, retry_failed=args.retry_failed, quick=args.quick)
    except RunInterrupted as stop:
        print(f"\nseqcompare: interrupted; {stop.n_done} of {stop.n_cells} cells are saved in "
              f"{stop.store}. Run the same command again to resume.", file=sys.stderr)
        return stop.exit_code
    shown = suite.quick() if args.quick else suite
    paths = _write_report(results, output, shown)
    counts = results["status"].value_counts().to_dict()
    print(f"{len(results)} cells ({_counts_text(counts)}) -> {paths['markdown']}")
    diverged = counts.get("diverged", 0)
    if diverged:
        print(f"seqcompare: {diverged} training run(s) diverged: a measured outcome, shown in "
              "the report.", file=sys.stderr)
    failed = len(results) - sum(counts.get(status, 0) for status in MEASURED)
    if failed:
        print(f"seqcompare: {failed} cell(s) failed or timed out (listed in the report); "
              "'--retry-failed' runs them again.", file=sys.stderr)
        return EXIT_FAILED_CELLS
    return EXIT_OK


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.what)
        if args.command == "show":
            return _show(args.suite, args.quick)
        if args.command == "status":
            return _status(args.output)
        if args.command == "report":
            return _report(args.output)
        return _run(args)
    except (ValueError, TypeError) as error:
        return _error(str(error))
    except BrokenPipeError:  # output piped into e.g. head, which stopped reading
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
