"""The course as a static website: each executed lesson as one HTML page, and an index.

    python -m marlin_lite.course site [--out build/site] [LESSON ...]

Nothing is executed: a page shows the outputs committed in the lesson's ``.ipynb`` (run
``python -m marlin_lite.course execute`` first to refresh them; a lesson with no outputs at all
is refused, naming it). The site, opened as files, needs no network to show text, code and
figures:

* ``index.html``: the lessons in order, each with its title (the first markdown heading), its
  objectives (the list after "In this lesson you will" / "Learning objectives" in its first
  markdown cells), its run time and links to its page and sources;
* ``NN_topic.html``: one page per lesson (nbconvert's ``lab`` template), with a navigation bar
  (index, previous, next, sources) at the top and the bottom; figures are data URIs;
* ``source/NN_topic.ipynb`` and ``source/NN_topic.py``: copies of the lesson and its jupytext twin.

Outputs nbconvert cannot show offline are made static first (:func:`static_notebook`): a GIF
becomes an ``<img>``; an ipywidgets explorer (which needs a kernel) becomes a note, "interactive
in JupyterLab", followed by what the explorer last drew (saved in the notebook's widget state),
or its text fallback. require.js, which nbconvert's template loads from a CDN for widgets, is
left out; MathJax is still loaded from its CDN, for formulas: without the network they show as
TeX, and nothing else changes.

The run time is measured when the notebook recorded one (papermill's ``metadata.papermill
.duration``, else the cells' ``metadata.execution`` timestamps, which ``marlin_lite.course``
does not store), else when ``python -m marlin_lite.course execute`` recorded it in
``notebooks/run_times.json`` (:func:`record_run_time`: seconds, date, CPU cores); otherwise the
lesson's own "*Run time: ...*" line, marked as stated; else "—".

The site is built in a temporary folder beside ``out`` and then renamed into place, so a
failed build leaves the previous site as it was. An existing ``out`` is replaced only when it
is empty or a site this module built (it holds :data:`SITE_MARKER`).
"""

from __future__ import annotations

import base64
import copy
import html
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
from nbformat import NotebookNode

from marlin_lite.utils import atomic_write_bytes

__all__ = [
    "SITE_MARKER",
    "NotExecutedError",
    "LessonInfo",
    "SiteReport",
    "lesson_info",
    "cell_source",
    "lesson_title",
    "lesson_objectives",
    "recorded_seconds",
    "RUN_TIMES",
    "read_run_times",
    "record_run_time",
    "image_outputs",
    "static_notebook",
    "local_links",
    "build_site",
]

SITE_MARKER = ".marlin-lite-site"
"""The file that marks a folder as a site built here (so a rebuild may replace it)."""

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
WIDGET_NOTE = "Interactive in JupyterLab"
"""The words that open the static stand-in of a widget output."""
STATED = "stated in the lesson"

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
_OBJECTIVES = re.compile(r"learning objectives|objectives|you will", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+(?P<text>.*)$")
_RUN_TIME = re.compile(r"^\s*[*_]*\s*run time\s*:\s*(?P<text>.+?)\s*[*_]*\s*$", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEAD_CELLS = 3  # how many markdown cells, from the top, may hold the title, objectives, run time


class NotExecutedError(ValueError):
    """A lesson has no outputs: it was never executed (the site renders, it does not run)."""


# --------------------------------------------------------------------------------------------
# What the index says about a lesson
# --------------------------------------------------------------------------------------------
@dataclass
class LessonInfo:
    """What the site shows of one lesson (see :func:`lesson_info`)."""

    path: Path
    title: str
    objectives: list[str]  # markdown, one item each
    run_time: str  # "12 s", the lesson's stated run time, or "—"
    run_time_measured: bool
    image_outputs: int
    widget_outputs: int
    error_cells: list[int]

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def page(self) -> str:
        """The page's file name in the site."""
        return f"{self.path.stem}.html"

    @property
    def script(self) -> Path:
        """The jupytext twin (``notebooks/jupytext.toml`` pairs ``X.ipynb`` with ``X.py``)."""
        return self.path.with_suffix(".py")


def cell_source(cell: NotebookNode) -> str:
    """A cell's source as one string (nbformat may hold it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _head_markdown(nb: NotebookNode) -> list[str]:
    return [cell_source(c) for c in nb.cells if c.cell_type == "markdown"][:HEAD_CELLS]


def lesson_title(nb: NotebookNode, fallback: str) -> str:
    """The text of the first markdown heading (``# Lesson 00 · ...``), else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell_source(cell).splitlines():
            match = _HEADING.match(line)
            if match:
                return match.group("text")
    return fallback


def lesson_objectives(nb: NotebookNode) -> list[str]:
    """The items (markdown) of the first list that follows a line naming the objectives
    ("In this lesson you will", "Learning objectives", ...) in the first markdown cells; an item's
    continuation lines are joined to it, a closing ``;`` dropped. Empty when there is none."""
    for text in _head_markdown(nb):
        lines = text.splitlines()
        for number, line in enumerate(lines):
            if not _OBJECTIVES.search(line) or _LIST_ITEM.match(line):
                continue
            items: list[str] = []
            for following in lines[number + 1:]:
                item = _LIST_ITEM.match(following)
                if item:
                    items.append(item.group("text").strip())
                elif not following.strip():
                    if items:
                        break
                elif items and following[:1].isspace():
                    items[-1] = f"{items[-1]} {following.strip()}"
                else:
                    break
            if items:
                return [item.rstrip(" ;") for item in items]
    return []


def _stated_run_time(nb: NotebookNode) -> str | None:
    for text in _head_markdown(nb):
        for line in text.splitlines():
            match = _RUN_TIME.match(line)
            if match:
                return match.group("text").rstrip(".")
    return None


def recorded_seconds(nb: NotebookNode) -> float | None:
    """The execution time the notebook recorded, in seconds, or None.

    papermill's ``metadata.papermill.duration`` when present; else the sum over code cells of
    ``shell.execute_reply - iopub.execute_input`` from their ``metadata.execution`` timestamps
    (what JupyterLab and nbclient with ``record_timing`` store). Idle time between cells run by
    hand is not counted."""
    duration = nb.metadata.get("papermill", {}).get("duration")
    if isinstance(duration, (int, float)) and duration >= 0:
        return float(duration)
    total, timed = 0.0, 0
    for cell in nb.cells:
        stamps = cell.get("metadata", {}).get("execution", {})
        start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        if not (start and end):
            continue
        try:
            seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        except (TypeError, ValueError):
            continue
        total += max(seconds, 0.0)
        timed += 1
    return total if timed else None


RUN_TIMES = "run_times.json"
"""Beside the lessons: how long ``python -m marlin_lite.course execute`` took to run each one."""


def read_run_times(folder: str | Path) -> dict[str, dict]:
    """``{lesson stem: {"seconds", "date", "cpus"}}`` from ``folder/run_times.json`` ({} when absent
    or unreadable: the index then shows the lessons' stated run times)."""
    path = Path(folder) / RUN_TIMES
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in values.items() if isinstance(v, dict) and isinstance(v.get("seconds"), (int, float))}


def record_run_time(lesson: str | Path, seconds: float) -> Path:
    """Record that executing ``lesson`` took ``seconds`` (today, on this machine's CPU cores) in
    ``run_times.json`` beside it, written atomically; returns that file."""
    lesson = Path(lesson)
    times = read_run_times(lesson.parent)
    times[lesson.stem] = {"seconds": round(float(seconds), 1), "date": datetime.now().strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
    out = lesson.parent / RUN_TIMES
    atomic_write_bytes(out, (json.dumps(dict(sorted(times.items())), indent=1) + "\n").encode())
    return out


def _format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def image_outputs(nb: NotebookNode) -> int:
    """How many outputs of the code cells hold an image (PNG, JPEG, GIF or SVG)."""
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []) if any(t in out.get("data", {}) for t in IMAGE_TYPES))


def lesson_info(path: str | Path, nb: NotebookNode | None = None) -> LessonInfo:
    """Title, objectives, run time and output counts of the lesson ``path``.

    Raises :class:`NotExecutedError` naming the lesson when no code cell has an output."""
    path = Path(path)
    if nb is None:
        if not path.is_file():
            raise FileNotFoundError(f"notebook {str(path)!r} does not exist")
        nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if code and not any(cell.get("outputs") for cell in code):
        raise NotExecutedError(
            f"lesson {path.stem} ({path}) has no outputs: it was never executed. The site shows the "
            f"committed outputs and runs nothing; run `python -m marlin_lite.course execute {path.stem}` first.")
    seconds = recorded_seconds(nb)
    stated = _stated_run_time(nb)
    measured = read_run_times(path.parent).get(path.stem)
    if seconds is not None:
        run_time = _format_seconds(seconds)
    elif measured is not None:
        seconds = float(measured["seconds"])
        run_time = f"{_format_seconds(seconds)} (measured {measured['date']}, {measured['cpus']} CPU cores)"
    else:
        run_time = f"{stated} ({STATED})" if stated else "—"
    outputs = [out for cell in code for out in cell.get("outputs", [])]
    return LessonInfo(
        path=path,
        title=lesson_title(nb, path.stem),
        objectives=lesson_objectives(nb),
        run_time=run_time,
        run_time_measured=seconds is not None,
        image_outputs=image_outputs(nb),
        widget_outputs=sum(1 for out in outputs if WIDGET_VIEW in out.get("data", {})),
        error_cells=[i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                     and any(out.get("output_type") == "error" for out in cell.get("outputs", []))],
    )


# --------------------------------------------------------------------------------------------
# Outputs nbconvert cannot show offline, made static
# --------------------------------------------------------------------------------------------
def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _data_uri(mime: str, value) -> str:
    if mime == "image/svg+xml":
        return "data:image/svg+xml;base64," + base64.b64encode(_text(value).encode()).decode()
    return f"data:{mime};base64," + "".join(_text(value).split())


def _output_html(out: dict) -> str:
    """A plain HTML rendering of one saved output (for the widget stand-in)."""
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="marlin-saved-output">{html.escape(_text(out.get("text", "")))}</pre>'
    if kind == "error":
        message = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
        return f'<pre class="marlin-saved-output">{html.escape(message)}</pre>'
    data = out.get("data", {})
    for mime in IMAGE_TYPES:
        if mime in data:
            return f'<img src="{_data_uri(mime, data[mime])}" alt="saved output of the interactive explorer">'
    if "text/html" in data:
        return _text(data["text/html"])
    if "text/plain" in data:
        return f'<pre class="marlin-saved-output">{html.escape(_text(data["text/plain"]))}</pre>'
    return ""


_TEXT_WIDGETS = ("HTMLModel", "HTMLMathModel", "LabelModel")
_PROGRESS_WIDGETS = ("FloatProgressModel", "IntProgressModel")


def _widget_parts(model_id: str, state: dict) -> tuple[list[str], list[dict], list[str]]:
    """(``description = value`` of each control, saved outputs of each Output widget, texts of
    the text and progress widgets, e.g. a tqdm bar) of the widget ``model_id`` and every widget
    it refers to, depth first, each once."""
    controls: list[str] = []
    outputs: list[dict] = []
    texts: list[str] = []
    seen: set[str] = set()

    def visit(mid: str) -> None:
        if mid in seen or mid not in state:
            return
        seen.add(mid)
        model = state[mid].get("state", {})
        name = state[mid].get("model_name", "")
        if name in _TEXT_WIDGETS and model.get("value"):
            texts.append(html.unescape(re.sub(r"<[^>]*>", "", str(model["value"]))))
        elif name in _PROGRESS_WIDGETS and all(isinstance(model.get(k), (int, float)) for k in ("value", "max")):
            texts.append(f"[{model['value']:g}/{model['max']:g}]")
        description = model.get("description")
        if description:
            labels = model.get("_options_labels")
            index = model.get("index")
            if labels and isinstance(index, int) and 0 <= index < len(labels):
                controls.append(f"{description} = {labels[index]}")
            elif "value" in model:
                controls.append(f"{description} = {model['value']}")
        outputs.extend(model.get("outputs", []))
        for value in model.values():
            for ref in value if isinstance(value, list) else [value]:
                if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
                    visit(ref[len("IPY_MODEL_"):])

    visit(model_id)
    return controls, outputs, texts


def _widget_html(data: dict, state: dict) -> str:
    view = data.get(WIDGET_VIEW) or {}
    controls, outputs, texts = _widget_parts(view.get("model_id", ""), state)
    saved = "".join(_output_html(out) for out in outputs)
    if saved:
        settings = f" ({', '.join(controls)})" if controls else ""
        note = ("open the lesson in JupyterLab and run it to use this explorer's controls. Below: what "
                f"it showed when the lesson was executed{settings}.")
    else:
        text = " ".join(" ".join(texts).split()) or _text(data.get("text/plain", "")).strip()
        saved = f'<pre class="marlin-saved-output">{html.escape(text)}</pre>' if text else ""
        note = "a widget, live only with a running kernel." + (" Its last state:" if text else "")
    return f'<div class="marlin-widget-static"><p><em>{WIDGET_NOTE}:</em> {html.escape(note)}</p>{saved}</div>'


def static_notebook(nb: NotebookNode) -> tuple[NotebookNode, int]:
    """A copy of ``nb`` whose outputs need no kernel and no network, and how many widget
    outputs were replaced.

    A GIF output gets an ``<img>`` (``text/html``) that nbconvert shows (it has no GIF block);
    a widget output (``application/vnd.jupyter.widget-view+json``) becomes a ``text/html`` note
    ("Interactive in JupyterLab: ...") followed by the outputs its Output widgets saved in the
    notebook's widget state (the explorer's last figure), else the last text of its text and
    progress widgets (a tqdm bar), else its ``text/plain`` fallback; the
    widget state is dropped from the metadata (so no widget script is fetched from a CDN)."""
    nb = copy.deepcopy(nb)
    widgets = nb.metadata.pop("widgets", None) or {}
    state = widgets.get(WIDGET_STATE, {}).get("state", {}) if isinstance(widgets, dict) else {}
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            if WIDGET_VIEW in data:
                data["text/html"] = _widget_html(data, state)
                del data[WIDGET_VIEW]
                replaced += 1
            elif "image/gif" in data and "text/html" not in data:
                data["text/html"] = f'<img src="{_data_uri("image/gif", data["image/gif"])}" alt="animation">'
    return nb, replaced


# --------------------------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------------------------
class _PageParser(HTMLParser):
    """Collects the ``href``/``src`` values and counts the ``<img>`` tags of a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images = 0
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.images += tag == "img"
        self.links.extend(value for name, value in attrs if name in ("href", "src") and value)


def local_links(page: str) -> list[str]:
    """The relative ``href``/``src`` targets of an HTML page (fragment and query removed): what
    must exist beside it for the page to work as files. URLs with a scheme (``https:``,
    ``data:``, ``mailto:``) and links within the page (``#...``) are left out."""
    found = []
    for link in _PageParser(page).links:
        if _SCHEME.match(link) or link.startswith(("#", "//")):
            continue
        target = unquote(urlsplit(link).path)
        if target:
            found.append(target)
    return found


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------
SITE_CSS = """
.marlin-nav { display: flex; flex-wrap: wrap; gap: 0.4em 1.5em; align-items: baseline;
  padding: 0.6em 1em; margin: 0.5em 0; background: #f3f5f7; border: 1px solid #d0d7de;
  border-radius: 6px; font-family: system-ui, sans-serif; font-size: 14px; }
.marlin-nav a { text-decoration: none; }
.marlin-nav a:hover { text-decoration: underline; }
.marlin-nav .marlin-sources { margin-left: auto; color: #57606a; }
.marlin-widget-static { border-left: 3px solid #d0d7de; padding-left: 0.8em; }
.marlin-widget-static img { max-width: 100%; }
"""

_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block extra_css %}{{ super() }}<style>{{ resources.marlin_css }}</style>{% endblock extra_css %}
{%- block body_header -%}{{ super() }}
{{ resources.marlin_nav_top }}
{%- endblock body_header -%}
{% block body_footer %}{{ resources.marlin_nav_bottom }}
{{ super() }}{% endblock body_footer %}
"""
_PAGE_TEMPLATE_NAME = "marlin_lite_site.html.j2"


def _exporter():
    """nbconvert's HTMLExporter with the ``lab`` template plus the navigation bars (imported
    here: nbconvert is slow to import, and the lessons import ``marlin_lite.course``)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file=_PAGE_TEMPLATE_NAME, embed_images=True,
                        extra_loaders=[DictLoader({_PAGE_TEMPLATE_NAME: _PAGE_TEMPLATE})])


def _sources_html(info: LessonInfo, has_script: bool) -> str:
    links = [f'<a href="source/{html.escape(info.path.name)}">{html.escape(info.path.name)}</a>']
    if has_script:
        links.append(f'<a href="source/{html.escape(info.script.name)}">{html.escape(info.script.name)}</a>')
    return " · ".join(links)


def _nav_html(lessons: list[LessonInfo], index: int, has_script: bool, where: str) -> str:
    info = lessons[index]
    parts = ['<a rel="index" href="index.html">↑ Course index</a>']
    if index > 0:
        prev = lessons[index - 1]
        parts.append(f'<a rel="prev" href="{html.escape(prev.page)}">← {html.escape(prev.title)}</a>')
    if index + 1 < len(lessons):
        nxt = lessons[index + 1]
        parts.append(f'<a rel="next" href="{html.escape(nxt.page)}">{html.escape(nxt.title)} →</a>')
    parts.append(f'<span class="marlin-sources">source: {_sources_html(info, has_script)}</span>')
    return f'<nav class="marlin-nav marlin-nav-{where}" aria-label="lessons">{"".join(parts)}</nav>'


def _inline_markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    rendered = markdown2html_mistune(text).strip()
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        rendered = rendered[3:-4]
    return rendered


def _index_html(lessons: list[LessonInfo], scripts: dict[str, bool], course: str) -> str:
    rows = []
    for info in lessons:
        objectives = "".join(f"<li>{_inline_markdown(item)}</li>" for item in info.objectives)
        objectives = f"<ol>{objectives}</ol>" if objectives else "<p>—</p>"
        errors = (f'<p class="errors">cells with errors: {", ".join(map(str, info.error_cells))}</p>'
                  if info.error_cells else "")
        rows.append(
            "<tr>"
            f'<td class="lesson"><a href="{html.escape(info.page)}">{html.escape(info.title)}</a>{errors}</td>'
            f'<td class="objectives">{objectives}</td>'
            f'<td class="time">{html.escape(info.run_time)}</td>'
            f'<td class="sources">{_sources_html(info, scripts[info.stem])}</td>'
            "</tr>")
    measured = any(info.run_time_measured for info in lessons)
    note = ("Run times were measured when the lesson was executed, from an empty runs/ folder (as on a new machine)."
            if measured and all(i.run_time_measured for i in lessons) else
            "Run times are measured where the notebook recorded one, otherwise as the lesson states them.")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="marlin_lite.site">
<title>{html.escape(course)}: lessons</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; color: #1f2328; line-height: 1.45; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: 0.6em; text-align: left; vertical-align: top; }}
td.lesson {{ width: 22%; font-weight: 600; }}
td.time {{ width: 14%; color: #57606a; font-size: 90%; }}
td.sources {{ width: 14%; font-size: 90%; }}
td ol {{ margin: 0; padding-left: 1.2em; }}
code {{ background: #f3f5f7; padding: 0 0.2em; border-radius: 3px; }}
.errors {{ color: #b42318; font-weight: normal; font-size: 90%; }}
.note {{ color: #57606a; font-size: 90%; }}
</style>
</head>
<body>
<h1>{html.escape(course)}</h1>
<p>The lessons in order, as they were last executed (their committed outputs; nothing was re-run).
Each page links the lesson's notebook (<code>.ipynb</code>) and its jupytext twin (<code>.py</code>):
open the notebook in JupyterLab to run it and use its interactive explorers.</p>
<table>
<thead><tr><th>Lesson</th><th>In this lesson you will</th><th>Run time</th><th>Source</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<p class="note">{note}</p>
</body>
</html>
"""


# --------------------------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------------------------
@dataclass
class SiteReport:
    """What :func:`build_site` wrote, and what is wrong with it (``problems``)."""

    out: Path
    index: Path
    pages: list[Path]
    sources: list[Path]
    lessons: list[LessonInfo]
    seconds: float
    total_bytes: int
    static_widgets: int = 0
    missing_scripts: list[str] = field(default_factory=list)  # lessons without a .py twin
    missing_images: dict[str, int] = field(default_factory=dict)  # page -> images not shown
    broken_links: list[str] = field(default_factory=list)  # "page: target"

    @property
    def problems(self) -> list[str]:
        """Sentences: images a page does not show, links that lead nowhere, lessons with errors."""
        found = [f"{page}: {count} image output(s) of the notebook are not on the page"
                 for page, count in self.missing_images.items()]
        found += [f"broken link {link}" for link in self.broken_links]
        found += [f"{info.stem}: cells {info.error_cells} have error outputs" for info in self.lessons if info.error_cells]
        return found

    def summary(self) -> str:
        lines = [f"{len(self.pages)} lesson page(s) and index.html in {self.out} "
                 f"({self.total_bytes / 1e6:.1f} MB, {self.seconds:.1f} s); open {self.index} in a browser"]
        if self.static_widgets:
            lines.append(f"{self.static_widgets} interactive explorer(s) shown as their saved output (interactive in JupyterLab)")
        if self.missing_scripts:
            lines.append(f"no .py twin for: {', '.join(self.missing_scripts)}")
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SITE_MARKER).is_file():
        raise ValueError(f"--out {str(out)!r} is a folder this command did not build (it has no {SITE_MARKER}); "
                         "the site replaces its folder entirely: choose another --out or remove this one")


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` to ``out``; an old site at ``out`` is moved aside first and
    deleted after."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_site(lessons: Sequence[str | Path], out: str | Path, *, course: str = "MARLIN-lite") -> SiteReport:
    """Render the executed ``lessons`` (notebook paths, in this order) into a static site ``out``.

    Every lesson is read and checked before anything is written: a lesson without outputs
    raises :class:`NotExecutedError` naming it; two lessons with the same file name, or none,
    ``ValueError``. ``out`` is built beside itself in a temporary folder and renamed into place;
    an existing ``out`` must be empty or a site built here (``ValueError`` otherwise). Returns a
    :class:`SiteReport`; its ``problems`` list the images a page lost and links that lead nowhere.
    """
    start = time.perf_counter()
    out = Path(out)
    paths = [Path(p) for p in lessons]
    if not paths:
        raise ValueError("no lessons to render")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ValueError(f"two lessons share a name: {sorted({s for s in stems if stems.count(s) > 1})}")
    _check_out(out)
    notebooks = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"notebook {str(path)!r} does not exist")
        notebooks.append(nbformat.read(path, as_version=4))
    infos = [lesson_info(path, nb) for path, nb in zip(paths, notebooks)]
    scripts = {info.stem: info.script.is_file() for info in infos}

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (tmp / "source").mkdir()
        exporter = _exporter()
        static_widgets = 0
        missing_images: dict[str, int] = {}
        for index, (info, nb) in enumerate(zip(infos, notebooks)):
            shutil.copyfile(info.path, tmp / "source" / info.path.name)
            if scripts[info.stem]:
                shutil.copyfile(info.script, tmp / "source" / info.script.name)
            static, replaced = static_notebook(nb)
            static_widgets += replaced
            resources = {
                "metadata": {"name": info.title, "path": str(info.path.resolve().parent)},
                "marlin_css": SITE_CSS,
                "marlin_nav_top": _nav_html(infos, index, scripts[info.stem], "top"),
                "marlin_nav_bottom": _nav_html(infos, index, scripts[info.stem], "bottom"),
            }
            body, _ = exporter.from_notebook_node(static, resources=resources)
            shown = _PageParser(body).images
            if shown < info.image_outputs:
                missing_images[info.page] = info.image_outputs - shown
            (tmp / info.page).write_text(body, encoding="utf-8")
        (tmp / "index.html").write_text(_index_html(infos, scripts, course), encoding="utf-8")
        (tmp / SITE_MARKER).write_text("built by python -m marlin_lite.course site; replaced on each build\n")
        broken = [f"{page.name}: {target}" for page in sorted(tmp.glob("*.html"))
                  for target in local_links(page.read_text(encoding="utf-8"))
                  if not (page.parent / target).is_file()]
        total = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        tmp.chmod(0o755)  # mkdtemp makes it private; the site is for reading
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SiteReport(
        out=out,
        index=out / "index.html",
        pages=[out / info.page for info in infos],
        sources=[out / "source" / name for info in infos
                 for name in ([info.path.name] + ([info.script.name] if scripts[info.stem] else []))],
        lessons=infos,
        seconds=time.perf_counter() - start,
        total_bytes=total,
        static_widgets=static_widgets,
        missing_scripts=[info.stem for info in infos if not scripts[info.stem]],
        missing_images=missing_images,
        broken_links=broken,
    )
