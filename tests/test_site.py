"""The course as a static website (marlin_lite.site, ``python -m marlin_lite.course site``).

Built once from two real lessons (their committed outputs; nothing is executed), and from small
synthetic notebooks for the outputs the real ones may lack. Links and images are read with
``html.parser``, independently of the module's own checks.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from marlin_lite import course
from marlin_lite.site import NotExecutedError, build_site, lesson_objectives, read_run_times

REPO = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


class Page(HTMLParser):
    """Tags (name, attributes) and visible text of an HTML file."""

    def __init__(self, path: Path) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self._skip = 0
        self.feed(path.read_text(encoding="utf-8"))
        self.close()
        self.text = " ".join("".join(self.chunks).split())

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def rel(self, rel: str) -> list[str]:
        return [a["href"] for a in self.all("a") if a.get("rel") == rel]


def plain(markdown: str) -> str:
    """Markdown inline text as a browser shows it (`*` emphasis and code marks dropped)."""
    return " ".join(re.sub(r"[*`]", "", markdown).split())


def image_outputs(nb) -> int:
    return sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
               if any(t in out.get("data", {}) for t in IMAGE_TYPES))


# --------------------------------------------------------------------------------------------
# Two real lessons
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_site(tmp_path_factory):
    lessons = sorted((REPO / "notebooks").glob("0[01]_*.ipynb"))
    assert len(lessons) == 2, lessons
    out = tmp_path_factory.mktemp("site") / "site"
    start = time.perf_counter()
    report = build_site(lessons, out)
    seconds = time.perf_counter() - start
    assert seconds < 60, f"building two lessons took {seconds:.1f} s"
    return lessons, out, report


def test_every_page_and_source_is_written(real_site):
    lessons, out, report = real_site
    assert report.problems == [], report.problems
    assert report.index == out / "index.html" and report.index.is_file()
    assert report.pages == [out / f"{p.stem}.html" for p in lessons]
    for path in lessons:
        assert (out / f"{path.stem}.html").stat().st_size > 10_000
        assert (out / "source" / path.name).read_bytes() == path.read_bytes()
        assert (out / "source" / f"{path.stem}.py").read_bytes() == path.with_suffix(".py").read_bytes()
    assert not [p for p in out.parent.iterdir() if p.name != "site"], "temporary folders left behind"


def test_every_relative_link_resolves(real_site):
    _, out, _ = real_site
    checked, broken = 0, []
    for html_file in sorted(out.glob("*.html")):
        page = Page(html_file)
        for _, attrs in page.tags:
            for key in ("href", "src"):
                link = attrs.get(key, "")
                if not link or link.startswith("#") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link):
                    continue  # within the page, or absolute (https:, data:)
                checked += 1
                target = link.split("#", 1)[0].split("?", 1)[0]
                if not (html_file.parent / target).is_file():
                    broken.append(f"{html_file.name}: {link}")
    assert not broken, broken
    assert checked >= 2 * 3 + 2 * 2 * 4, checked  # index: page + 2 sources per lesson; pages: 2 bars of 4


def test_navigation_links_index_previous_and_next(real_site):
    lessons, out, _ = real_site
    pages = [f"{p.stem}.html" for p in lessons]
    for i, name in enumerate(pages):
        page = Page(out / name)
        assert page.rel("index") == ["index.html"] * 2, name  # top and bottom bars
        assert page.rel("prev") == ([pages[i - 1]] * 2 if i > 0 else []), name
        assert page.rel("next") == ([pages[i + 1]] * 2 if i + 1 < len(pages) else []), name
        hrefs = [a["href"] for a in page.all("a")]
        assert f"source/{lessons[i].name}" in hrefs and f"source/{lessons[i].stem}.py" in hrefs


def test_pages_show_every_image_animation_and_widget(real_site):
    lessons, out, _ = real_site
    for path in lessons:
        nb = nbformat.read(path, as_version=4)
        page = Page(out / f"{path.stem}.html")
        sources = [img.get("src", "") for img in page.all("img")]
        assert len(sources) >= image_outputs(nb), path.name
        outputs = [out_ for cell in nb.cells if cell.cell_type == "code" for out_ in cell.get("outputs", [])]
        gifs = sum("image/gif" in o.get("data", {}) for o in outputs)
        assert sum(s.startswith("data:image/gif;base64,") for s in sources) >= gifs, path.name
        widgets = sum(WIDGET_VIEW in o.get("data", {}) for o in outputs)
        assert page.text.count("Interactive in JupyterLab") >= widgets, path.name
        assert not [s for n, s in page.tags if n == "script" and s.get("type") == WIDGET_VIEW]
        assert nb.cells[0].source.splitlines()[0].lstrip("# ") in page.text


def test_index_lists_titles_objectives_and_run_times_in_order(real_site):
    lessons, out, _ = real_site
    index = Page(out / "index.html")
    lesson_links = [a["href"] for a in index.all("a") if a["href"].endswith(".html")]
    assert lesson_links == [f"{p.stem}.html" for p in lessons]
    items_shown = len(index.all("li"))
    items_written = 0
    for path in lessons:
        nb = nbformat.read(path, as_version=4)
        head = nb.cells[0].source
        assert head.splitlines()[0].lstrip("# ") in index.text
        block = head.split("In this lesson you will", 1)[1].split("\n\n", 1)[0]
        numbered = re.findall(r"^\d+\. ", block, flags=re.MULTILINE)
        objectives = lesson_objectives(nb)
        assert len(objectives) == len(numbered) > 0, path.name
        for item in objectives:
            assert plain(item) in index.text, item
        items_written += len(numbered)
        measured = read_run_times(path.parent).get(path.stem)
        if measured is not None:  # what `course execute` measured, else the lesson's stated time
            seconds = measured["seconds"]
            shown = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
            assert f"{shown} (measured {measured['date']}, {measured['cpus']} CPU cores)" in index.text, path.name
        else:
            stated = re.search(r"Run time: (.+?)\.?\*", head)
            assert (plain(stated.group(1)) if stated else "—") in index.text
    assert items_shown == items_written


# --------------------------------------------------------------------------------------------
# Synthetic lessons
# --------------------------------------------------------------------------------------------
def _image_b64(fmt: str) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def _jshtml() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    (line,) = ax.plot([0, 1], [0, 1])
    animation = FuncAnimation(fig, lambda k: line.set_ydata([0, k]) or (line,), frames=2)
    try:
        return animation.to_jshtml()
    finally:
        plt.close(fig)


def synthetic(path: Path, *, executed: bool = True) -> Path:
    """A small lesson: a heading, objectives, a GIF, an animation, three widget outputs (an
    explorer with its saved figure, one whose state is lost, a progress bar), timing metadata
    (5 cells x 0.75 s)."""
    png, gif = _image_b64("PNG"), _image_b64("GIF")
    view = lambda model: {WIDGET_VIEW: {"model_id": model, "version_major": 2, "version_minor": 0}}  # noqa: E731
    cells = [
        new_markdown_cell("# Lesson 98 · A synthetic lesson\n\n**Learning objectives**\n- draw a square;\n"
                          "- animate *it*\n  twice.\n\nMore text."),
        new_code_cell("show_gif()", outputs=[new_output("display_data", data={"image/gif": gif, "text/plain": "<Image>"})]),
        new_code_cell("animate()", outputs=[new_output("display_data", data={"text/html": _jshtml(), "text/plain": "<HTML>"})]),
        new_code_cell("explore()", outputs=[new_output("display_data", data={**view("box"), "text/plain": "interactive(box)"})]),
        new_code_cell("lost()", outputs=[new_output("display_data", data={**view("gone"), "text/plain": "interactive(lost-state)"})]),
        new_code_cell("progress()", outputs=[new_output("display_data", data={**view("bar"), "text/plain": "0/2 (start)"})]),
    ]
    for k, cell in enumerate(cells[1:]):
        cell.metadata["execution"] = {"iopub.execute_input": f"2024-01-01T00:00:0{2 * k}.000Z",
                                      "shell.execute_reply": f"2024-01-01T00:00:0{2 * k}.750Z"}
        if not executed:
            cell.outputs = []
            del cell.metadata["execution"]
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_output"]}},
        "slider": {"model_name": "IntSliderModel", "state": {"description": "size", "value": 7}},
        "output": {"model_name": "OutputModel", "state": {"outputs": [
            {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure>"}, "metadata": {}}]}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_label", "IPY_MODEL_progress"]}},
        "label": {"model_name": "HTMLModel", "state": {"value": "<b>work</b>: 100%"}},
        "progress": {"model_name": "FloatProgressModel", "state": {"value": 2.0, "max": 2.0}},
    }}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_static_outputs_gif_animation_and_widgets(tmp_path):
    lesson = synthetic(tmp_path / "nb" / "98_synthetic.ipynb")
    report = build_site([lesson], tmp_path / "site")
    assert report.problems == [] and report.static_widgets == 3
    assert report.missing_scripts == ["98_synthetic"]  # no .py twin: the page links the notebook only
    html_text = (tmp_path / "site" / "98_synthetic.html").read_text(encoding="utf-8")
    page = Page(tmp_path / "site" / "98_synthetic.html")
    sources = [img.get("src", "") for img in page.all("img")]
    assert any(s.startswith("data:image/gif;base64,") for s in sources)
    assert f"data:image/png;base64,{_image_b64('PNG')}" in sources  # the explorer's saved figure
    assert page.text.count("Interactive in JupyterLab") == 3
    assert "size = 7" in page.text and "interactive(lost-state)" in page.text
    assert "work: 100% [2/2]" in page.text and "0/2 (start)" not in page.text  # the bar's last state
    assert "new Animation(" in html_text  # matplotlib's jshtml player, inline
    assert "unpkg.com" not in html_text and "require.min.js" not in html_text and WIDGET_VIEW not in html_text
    assert page.rel("prev") == page.rel("next") == []
    index = Page(tmp_path / "site" / "index.html")
    assert "Lesson 98 · A synthetic lesson" in index.text
    assert "draw a square" in index.text and "animate it twice" in index.text
    assert "4 s" in index.text  # 5 cells x 0.75 s = 3.75 s, from their execution timestamps


def test_a_lesson_without_outputs_is_refused_by_name(tmp_path, capsys):
    good = synthetic(tmp_path / "nb" / "97_good.ipynb")
    bad = synthetic(tmp_path / "nb" / "98_unrun.ipynb", executed=False)
    with pytest.raises(NotExecutedError, match="98_unrun.*never executed"):
        build_site([good, bad], tmp_path / "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb"]  # nothing written, no temp folder
    assert course.main(["site", str(bad), "--out", str(tmp_path / "site")]) == 2
    assert "98_unrun" in capsys.readouterr().err


def test_a_rebuild_replaces_the_site_but_never_a_foreign_folder(tmp_path):
    first = synthetic(tmp_path / "nb" / "97_first.ipynb")
    second = synthetic(tmp_path / "nb" / "98_second.ipynb")
    out = tmp_path / "site"
    build_site([first, second], out)
    assert Page(out / "97_first.html").rel("next") == ["98_second.html"] * 2
    build_site([second], out)
    assert sorted(p.name for p in out.glob("*.html")) == ["98_second.html", "index.html"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="did not build"):
        build_site([second], foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "nb", "site"]


def test_the_command_line_builds_a_lesson(tmp_path):
    out = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "marlin_lite.course", "site", "--out", str(out), "00"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "index.html" in result.stdout
    pages = sorted(p.name for p in out.glob("*.html"))
    assert len(pages) == 2 and pages[0].startswith("00_") and pages[1] == "index.html"


def test_measured_run_times_are_recorded_beside_the_lessons_and_shown(tmp_path):
    from marlin_lite.site import RUN_TIMES, lesson_info, read_run_times, record_run_time

    lesson = tmp_path / "00_welcome_and_data.ipynb"
    lesson.write_bytes((REPO / "notebooks" / lesson.name).read_bytes())
    assert read_run_times(tmp_path) == {}
    assert "(stated in the lesson)" in lesson_info(lesson).run_time
    record_run_time(lesson, 42.04)
    record_run_time(tmp_path / "01_x.ipynb", 125.0)
    times = read_run_times(tmp_path)
    assert times["00_welcome_and_data"]["seconds"] == 42.0 and times["01_x"]["seconds"] == 125.0
    info = lesson_info(lesson)
    assert info.run_time_measured and info.run_time.startswith("42 s (measured ") and "CPU cores" in info.run_time
    (tmp_path / RUN_TIMES).write_text("{not json")
    assert read_run_times(tmp_path) == {}  # a damaged file falls back to the stated times
