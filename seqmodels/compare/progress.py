"""Progress of a comparison: a bar with the current cell and an ETA on a terminal, plain
lines elsewhere (logs, CI), or nothing."""

import sys

__all__ = ["make_progress", "Progress", "LineProgress", "BarProgress"]


class Progress:
    """Silent progress: the interface every reporter implements."""

    def start(self, total, already_done, backend):
        pass

    def running(self, titles):
        pass

    def finished(self, cell, record):
        pass

    def waiting(self, n_cells):
        pass

    def close(self):
        pass


def _outcome(record):
    if record["status"] == "ok":
        return f"{record['cell_seconds']:.2f} s"
    return f"{record['status'].upper()}: {(record.get('error') or '').splitlines()[0][:120]}"


class LineProgress(Progress):
    """One plain line per finished cell, for logs and non-terminals."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.total = self.count = 0
        self._waiting_said = False

    def _say(self, text):
        print(text, file=self.stream, flush=True)

    def start(self, total, already_done, backend):
        self.total, self.count = total, already_done
        self._say(f"{total} cells, {already_done} already in the store; running "
                  f"{total - already_done} on {backend}.")

    def finished(self, cell, record):
        self.count += 1
        width = len(str(self.total))
        self._say(f"[{self.count:>{width}}/{self.total}] {record['status']:<7} {cell.title()} "
                  f"({_outcome(record)})")

    def waiting(self, n_cells):
        if not self._waiting_said:
            self._say(f"waiting for {n_cells} cell(s) that another run on this store is "
                      "computing...")
            self._waiting_said = True


class BarProgress(Progress):
    """A rich progress bar: cells done, the cell running now, elapsed time and ETA."""

    def __init__(self, stream=None):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)

        self._bar = RichProgress(
            TextColumn("[bold]seqcompare"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=Console(file=stream or sys.stderr), transient=False)
        self._task = None
        self._failures = 0

    def start(self, total, already_done, backend):
        self._bar.start()
        self._bar.console.print(f"{total} cells, {already_done} already in the store; "
                                f"running {total - already_done} on {backend}.")
        self._task = self._bar.add_task("", total=total, completed=already_done)

    def running(self, titles):
        shown = titles[0] if titles else ""
        if len(titles) > 1:
            shown += f" (+{len(titles) - 1} more)"
        self._bar.update(self._task, description=shown)

    def finished(self, cell, record):
        if record["status"] != "ok":
            self._failures += record["status"] != "diverged"
            colour = "yellow" if record["status"] == "diverged" else "red"
            self._bar.console.print(f"[{colour}]{record['status']}[/{colour}] {cell.title()}: "
                                    f"{_outcome(record)}", markup=True, highlight=False)
        self._bar.advance(self._task)

    def waiting(self, n_cells):
        self._bar.update(self._task, description=f"waiting for {n_cells} cell(s) of another run")

    def close(self):
        self._bar.update(self._task, description="")
        self._bar.stop()


def make_progress(progress, stream=None):
    """``progress``: False / None (silent), True or "auto" (a bar on a terminal, else
    silent), "bar", "lines", or a :class:`Progress` instance."""
    if isinstance(progress, Progress):
        return progress
    stream = stream or sys.stderr
    if progress in (False, None):
        return Progress()
    if progress in (True, "auto"):
        return BarProgress(stream) if stream.isatty() else Progress()
    if progress == "bar":
        return BarProgress(stream)
    if progress == "lines":
        return LineProgress(stream)
    raise ValueError(
        f"progress must be True, False, 'auto', 'bar', 'lines' or a Progress; got {progress!r}."
    )
