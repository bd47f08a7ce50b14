"""The ``seqcompare`` command.

    seqcompare run [SUITE] [--output DIR] [--n-jobs N]
    seqcompare list
"""

import argparse
import sys

from .report import report
from .runner import compare
from .suite import builtin_suites, load_suite

DEFAULT_OUTPUT = "reports/{suite}"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="seqcompare",
        description="Compare sequence models against each other and against the oracle.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a comparison suite and write its report")
    run.add_argument("suite", nargs="?", default="default",
                     help="a built-in suite name (see 'seqcompare list') or a .toml file "
                          "(default: %(default)s)")
    run.add_argument("--output", "-o", default=None,
                     help="folder for results.csv and report.md (default: reports/SUITE)")
    run.add_argument("--n-jobs", "-j", type=int, default=1,
                     help="cells run in parallel on this many processes (default: 1)")
    commands.add_parser("list", help="list the built-in suites")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for name in builtin_suites():
            suite = load_suite(name)
            print(f"{name}: {suite.title}")
        return 0
    try:
        suite = load_suite(args.suite)
    except ValueError as error:
        print(f"seqcompare: {error}", file=sys.stderr)
        return 2
    output = args.output or DEFAULT_OUTPUT.format(suite=suite.name)
    rows = compare(suite, n_jobs=args.n_jobs)
    paths = report(rows, output, title=suite.title, description=suite.description)
    print(f"{len(rows)} cells -> {paths['markdown']} and {paths['csv']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
