"""Render report sections as Markdown that reads well as plain text too.

Tables are GitHub pipe tables with their columns padded to a common width, so they
line up on a terminal; paragraphs are wrapped at 100 characters; figures are links to
PNG files beside the report. Any text that Markdown or a GitHub viewer would
interpret (``<tag>``, ``|``, ``*``, brackets, backticks, ``~``, ``$``, entities, an
opening ``_``, and headings, quotes, lists, fences or rules where a line starts) is
backslash-escaped, so labels and error messages show literally. A suite's description
keeps the small Markdown subset the HTML report renders (paragraphs, ``*`` / ``-``
bullets, bold, emphasis, code spans); the rest of it is escaped the same way.
"""

import re
import string
import textwrap
import unicodedata

__all__ = ["render_markdown", "escape", "table", "description_html", "description_markdown"]

_ALWAYS = re.compile(r"([\\`*|~$])")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # "p < 0.001" stays as it is
_BRACKET = re.compile(r"([\[\]])")
_LINK = re.compile(r"\]\s*[(\[:]")
_ENTITY = re.compile(r"&(?=#?\w+;)")            # "&lt;" would show as "<"
_UNDERSCORE = re.compile(r"(?<![^\W_])_")        # one that could open emphasis: "_x_"
# Where a line starts, what would begin a block: a heading, quote, list, fence or rule.
# (Markdown indents and ends lines with ASCII spaces, tabs and newlines only: "\\s" would
# take a no-break space for indentation, and str.splitlines "\\u2028" for a line end.)
_BLOCK_START = re.compile(r"^([ \t]*)([#>+=~_|:$\[-]|`{3}|\*(?=[ \t]|$)|<(?=[A-Za-z/!?]))")
_NUMBERED = re.compile(r"^([ \t]*\d{1,9})([.)])(?=[ \t]|$)")


def escape(text, brackets=False):
    """``text`` on one line, with what Markdown would interpret backslash-escaped.

    Backslashes, backticks, ``*``, ``|``, ``~`` and ``$`` always; ``<`` where it could
    open a tag or an autolink, ``&`` where it would start an entity, ``_`` where it could
    open emphasis (not inside a word: ``n_train`` stays); brackets only where they could
    form a link, or always with ``brackets=True`` (a link's text, an image's alt text).
    The rest stays as it is, so numbers and intervals read cleanly on a terminal. What
    would start a block where a line starts is the wrapping's business (``_line_start``).

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
    text = _ENTITY.sub(r"\\&", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    if brackets or _LINK.search(text):
        text = _BRACKET.sub(r"\\\1", text)
    return text


def _line_start(line):
    """``line`` with a backslash before what would begin a block where it starts."""
    line = _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), line, count=1)
    return _NUMBERED.sub(r"\1\\\2", line, count=1)


def _heading(text):
    """Escaped heading text; a trailing run of ``#`` would be read as a closing sequence."""
    return re.sub(r"(^|\s)(#+)$", r"\1\\\2", escape(text))


# -- a suite's description --------------------------------------------------------------------

_PUNCTUATION = set(string.punctuation)
_RUN = re.compile("`+")
_BULLET = re.compile(r"^([ \t]*)([*-] )(.*)$")
_RULE = re.compile(r"[ \t]*(?:(?:[-*_][ \t]*){3,}|=+[ \t]*|-+[ \t]*)")  # or an underline
_LINE_END = re.compile(r"\r\n|\r|\n")


def _literal_end(text, i):
    """End of the literal piece at ``text[i]`` (a backslash escape or a code span), or None.

    Code spans are found as CommonMark finds them: a run of n backticks closes at the
    next run of exactly n, and an unmatched run is literal backticks.
    """
    if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in _PUNCTUATION:
        return i + 2
    if text[i] != "`":
        return None
    run = _RUN.match(text, i)
    for found in _RUN.finditer(text, run.end()):
        if len(found.group()) == len(run.group()):
            return found.end()
    return run.end()


def _inline(text):
    """A block of the description with what Markdown would interpret escaped, but for
    ``*`` (bold, emphasis) and what is literal already: code spans and escapes."""
    plain, i = [], 0
    while i < len(text):
        end = _literal_end(text, i)
        plain.append(" " if end else text[i])
        i = end or i + 1
    links = bool(_LINK.search("".join(plain)))
    out, i, n = [], 0, len(text)
    while i < n:
        end = _literal_end(text, i)
        if end:
            out.append(text[i:end])
            i = end
            continue
        char = text[i]
        after = text[i + 1] if i + 1 < n else " "
        if (char in "|~$" or (char in "[]" and links)
                or (char == "<" and (after.isalpha() or after in "/!?"))
                or (char == "&" and _ENTITY.match(text, i))
                or (char == "_" and not (i and text[i - 1].isalnum()))):
            out.append("\\")
        out.append(char)
        i += 1
    return "".join(out)


def description_markdown(text):
    """A suite's description as Markdown that renders the subset the HTML report renders.

    Paragraphs, ``*`` / ``-`` bullets, ``**bold**``, ``*emphasis*`` and ```code``` are
    kept as written; raw HTML, links and images, headings, quotes, numbered lists,
    fences, rules, tables and the like are backslash-escaped, so they show as text
    (as :func:`description_html` shows them). Block starts are escaped on every line,
    even inside a code span, since Markdown finds blocks before code spans.

    Examples
    --------
    >>> print(description_markdown("# Not a heading\\n\\n* **kept** <img src=x>\\n"
    ...                             "* `<b>` [x](javascript:y)"))
    \\# Not a heading
    <BLANKLINE>
    * **kept** \\<img src=x>
    * `<b>` \\[x\\](javascript:y)
    """
    text = textwrap.dedent(str(text or "")).strip()
    blocks, lines = [], []
    for line in _LINE_END.split(text):
        bullet = _BULLET.match(line)
        if not line.strip(" \t"):
            blocks.append(lines)
            blocks.append([""])
            lines = []
            continue
        if _RULE.fullmatch(line):
            line = re.sub(r"^([ \t]*)", r"\1\\", line, count=1)
        elif bullet:
            blocks.append(lines)  # a bullet starts a block: code spans end with the last
            lines = []
            indent, marker, rest = bullet.groups()
            line = indent + marker + _line_start(rest)
        else:
            line = _line_start(line)
        lines.append(line)
    blocks.append(lines)
    return "\n".join(_inline("\n".join(block)) for block in blocks if block)


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


def _fill(text, first="", rest=""):
    """Escaped text wrapped at 100 characters (a column kept for the backslash that a
    line starting like a heading, quote or list gets), prefixed by ``first`` / ``rest``."""
    lines = textwrap.wrap(escape(text), width=99, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    out = []
    for i, line in enumerate(lines):
        prefix = first if i == 0 else rest
        out.append(prefix + _line_start(line[len(prefix):]))
    return "\n".join(out)


def _wrap(text):
    return _fill(text)


def render_markdown(title, description, sections, figure_files, written=""):
    """The report as Markdown text.

    Parameters
    ----------
    title : str
    description : str
        Markdown (a suite's description): the subset the HTML report renders is kept,
        the rest escaped (:func:`description_markdown`).
    sections : list of Section
    figure_files : dict of str -> str
        Plot name -> path of its PNG relative to the report (absent: not drawn).
    written : str
        When the report was written.

    Returns
    -------
    str
    """
    lines = [f"# {_heading(title)}", ""]
    if written:
        lines += [_wrap(f"seqmodels comparison report, written {written}."), ""]
    if str(description or "").strip():  # the suite's Markdown, in the HTML report's subset
        lines += [description_markdown(description), ""]
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
                lines += [_fill(item, "* ", "  ") for item in block.items] + [""]
            elif block.kind == "heading":
                lines += [f"### {_heading(block.text)}", ""]
            elif block.kind == "table":
                lines += [table(block.columns, block.rows, block.align), ""]
            elif block.kind == "plot":
                path = figure_files.get(block.name)
                if path:
                    lines += [f"![{escape(block.caption, brackets=True)}]({path})", ""]
                else:
                    lines += [_wrap(f"(The figure '{block.caption}' could not be drawn.)"), ""]
            elif block.kind == "details":
                tracebacks = True
        if tracebacks:
            lines += [_wrap("Tracebacks: in report.html, and in the traceback column of "
                            "results.csv."), ""]
    return "\n".join(lines).rstrip() + "\n"
