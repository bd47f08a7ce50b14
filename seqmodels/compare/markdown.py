"""Render report sections as Markdown that reads well as plain text too.

Tables are GitHub pipe tables with their columns padded to a common width, so they
line up on a terminal; paragraphs are wrapped at 100 characters; figures are links to
PNG files beside the report. Any text that Markdown or a GitHub viewer would
interpret (``<tag>``, ``|``, ``*``, brackets, backticks) is backslash-escaped, so
labels and error messages show literally.
"""

import re
import textwrap
import unicodedata

__all__ = ["render_markdown", "escape", "table", "description_html"]

_ALWAYS = re.compile(r"([\\`*|])")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # "p < 0.001" stays as it is
_BRACKET = re.compile(r"([\[\]])")
_LINK = re.compile(r"\]\s*[(\[:]")


def escape(text):
    """``text`` on one line, with what Markdown would interpret backslash-escaped.

    Backslashes, backticks, ``*`` and ``|`` always; ``<`` where it could open a tag or
    an autolink; brackets only where they could form a link. The rest stays as it is,
    so numbers and intervals read cleanly on a terminal.

    Examples
    --------
    >>> print(escape("<b>AR|2</b> [0.1, 0.2] p < 0.05\\nnext"))
    \\<b>AR\\|2\\</b> [0.1, 0.2] p < 0.05 next
    >>> print(escape("[click](javascript:x)"))
    \\[click\\](javascript:x)
    """
    text = " ".join(str(text).split())
    text = _ALWAYS.sub(r"\\\1", text)
    text = _TAG_START.sub(r"\\<", text)
    if _LINK.search(text):
        text = _BRACKET.sub(r"\\\1", text)
    return text


_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])")
_CODE = re.compile(r"`([^`]+)`")


def _inline_html(text):
    """Escaped text with Markdown's bold, emphasis and code spans as tags."""
    from markupsafe import Markup, escape as html_escape

    html = str(html_escape(" ".join(text.split())))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _STRONG.sub(r"<strong>\1</strong>", html)
    html = _EMPHASIS.sub(r"<em>\1</em>", html)
    return Markup(html)


def description_html(text):
    """A suite's Markdown description as safe HTML blocks: paragraphs and bullet lists.

    Only a small subset is understood (``**bold**``, ``*emphasis*``, ```code```,
    ``*`` / ``-`` bullets); everything is HTML-escaped first, so the result holds no
    markup but those tags.

    Returns
    -------
    list of dict
        ``{"kind": "p", "html": Markup}`` or ``{"kind": "ul", "items": [Markup, ...]}``.

    Examples
    --------
    >>> description_html("One <b>\\n\\n* **a** and `b`\\n* c")
    [{'kind': 'p', 'html': Markup('One &lt;b&gt;')}, {'kind': 'ul', 'items': \
[Markup('<strong>a</strong> and <code>b</code>'), Markup('c')]}]
    """
    blocks = []
    for chunk in re.split(r"\n\s*\n", str(text or "").strip()):
        lines = chunk.splitlines()
        if not chunk.strip():
            continue
        if re.match(r"\s*[*-] ", lines[0]):
            items = []
            for line in lines:
                if re.match(r"\s*[*-] ", line):
                    items.append(re.sub(r"^\s*[*-] ", "", line))
                elif items:
                    items[-1] += " " + line.strip()
            blocks.append({"kind": "ul", "items": [_inline_html(i) for i in items]})
        else:
            blocks.append({"kind": "p", "html": _inline_html(chunk)})
    return blocks


def _width(text):
    """Display width: wide East Asian characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text, width, align):
    space = " " * max(0, width - _width(text))
    return space + text if align == "r" else text + space


def table(columns, rows, align=None):
    """A pipe table whose columns line up in a fixed-width font.

    Parameters
    ----------
    columns : list of str
    rows : list of list of str
    align : list of {"l", "r"}, optional

    Returns
    -------
    str

    Examples
    --------
    >>> print(table(["model", "RMSE"], [["AR(2)", "1.03"], ["AR(10)", "1.1"]], ["l", "r"]))
    | model  | RMSE |
    |--------|-----:|
    | AR(2)  | 1.03 |
    | AR(10) |  1.1 |
    """
    align = align or ["l"] * len(columns)
    head = [escape(c) for c in columns]
    body = [[escape(c) for c in row] for row in rows]
    widths = [max([_width(head[j])] + [_width(r[j]) for r in body] + [3])
              for j in range(len(columns))]
    rule = ["-" * (w + 1) + ":" if a == "r" else "-" * (w + 2) for w, a in zip(widths, align)]
    lines = ["| " + " | ".join(_pad(h, w, "l") for h, w in zip(head, widths)) + " |",
             "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(_pad(c, w, a) for c, w, a in zip(r, widths, align)) + " |"
              for r in body]
    return "\n".join(lines)


def _anchor(title):
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _wrap(text):
    return textwrap.fill(escape(text), width=100, break_long_words=False,
                         break_on_hyphens=False)


def render_markdown(title, description, sections, figure_files, written=""):
    """The report as Markdown text.

    Parameters
    ----------
    title : str
    description : str
        Markdown (a suite's description), included as it is.
    sections : list of Section
    figure_files : dict of str -> str
        Plot name -> path of its PNG relative to the report (absent: not drawn).
    written : str
        When the report was written.

    Returns
    -------
    str
    """
    lines = [f"# {escape(title)}", ""]
    if written:
        lines += [_wrap(f"seqmodels comparison report, written {written}."), ""]
    if str(description or "").strip():  # the suite's own Markdown, as its author wrote it
        lines += [textwrap.dedent(str(description)).strip(), ""]
    lines += ["Contents:", ""]
    lines += [f"{i}. [{s.title}](#{_anchor(s.title)})" for i, s in enumerate(sections, 1)]
    lines.append("")
    for section in sections:
        lines += [f"## {section.title}", ""]
        tracebacks = False
        for block in section.blocks:
            if block.kind == "paragraph":
                lines += [_wrap(block.text), ""]
            elif block.kind == "bullets":
                lines += [textwrap.fill(escape(item), width=100, initial_indent="* ",
                                        subsequent_indent="  ", break_on_hyphens=False)
                          for item in block.items] + [""]
            elif block.kind == "heading":
                lines += [f"### {escape(block.text)}", ""]
            elif block.kind == "table":
                lines += [table(block.columns, block.rows, block.align), ""]
            elif block.kind == "plot":
                path = figure_files.get(block.name)
                if path:
                    lines += [f"![{escape(block.caption)}]({path})", ""]
                else:
                    lines += [_wrap(f"(The figure '{block.caption}' could not be drawn.)"), ""]
            elif block.kind == "details":
                tracebacks = True
        if tracebacks:
            lines += [_wrap("Tracebacks: in report.html, and in the traceback column of "
                            "results.csv."), ""]
    return "\n".join(lines).rstrip() + "\n"
