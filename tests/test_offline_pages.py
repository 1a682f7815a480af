"""Executed pages work offline (``videonas_lite/pages.py``): a real headless Chromium with the network cut.

A small notebook (LaTeX, an ipywidgets Play jslinked to an IntSlider, a matplotlib ``to_jshtml`` player, a
tqdm bar, a figure with alt text, a ``solution`` cell) is executed on the project's kernel with
``runner.execute(..., html=True)``; Chromium opens the page with every host unresolvable and a dead proxy,
and the DevTools protocol records every request. Needs Debian's ``chromium`` (``make test`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from videonas_lite import pages
from videonas_lite.runner import KERNEL_NAME, execute, export_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--remote-debugging-port=0",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
]  # fmt: skip

LATEX = (
    "# Offline page\n\nInline $\\alpha_{o} = \\frac{1}{|O|}$ and display\n\n"
    r"$$w' = w - \xi \nabla_w L_{train}(w)$$"
)
PLAYER = """import ipywidgets as widgets
play = widgets.Play(value=0, min=0, max=1000, interval=20)
slider = widgets.IntSlider(value=0, min=0, max=1000)
widgets.jslink((play, "value"), (slider, "value"))
widgets.HBox([play, slider])"""
JSHTML = """import matplotlib.pyplot as plt
from IPython.display import HTML
from matplotlib.animation import FuncAnimation
fig, ax = plt.subplots(figsize=(2, 2))
(line,) = ax.plot([0, 1], [0, 0])
anim = FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=3)
plt.close(fig)
HTML(anim.to_jshtml())"""
CELLS = [
    ("markdown", LATEX),
    ("code", PLAYER),
    ("markdown", "## A player"),
    ("code", JSHTML),
    ("code", 'from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc="steps"):\n    pass'),
    ("code", "fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([0, 1])\nplt.show()"),
    ("code", "import io\nbuf = io.BytesIO()\nplt.figure(figsize=(1, 1)).savefig(buf, format='png')\nplt.close('all')\n"
             "widgets.Image(value=buf.getvalue())"),
    ("markdown", "## Exercises\n\n1. What is 1 + 1?"),
    ("code", "# Solution to exercise 1\nassert 1 + 1 == 2"),
]


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    params = nbformat.v4.new_code_cell('PROFILE = "default"')
    params.metadata.tags = ["parameters"]
    nb.cells = [params] + [
        nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
        for kind, src in CELLS
    ]
    nb.cells[6].metadata.alt = "A rising line"
    nb.cells[7].metadata.alt = "A blank widget image"
    nb.cells[9].metadata.tags = ["solution"]
    nb.cells[9].metadata.jupyter = {"source_hidden": True, "outputs_hidden": True}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """The executed page, and what the kernel printed on stderr while it ran."""
    tmp = tmp_path_factory.mktemp("offline")
    source = _notebook(tmp / "99_offline.ipynb")
    with tempfile.TemporaryFile() as err:  # the kernel inherits fd 2: catch what it prints there
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            executed = execute(source, tmp / "out", profile="ci", html=True)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return {"page": executed.with_suffix(".html"), "stderr": stderr}


class Browser:
    """A headless Chromium with the network off, driven over the DevTools protocol (websocket-client)."""

    def __init__(self, profile: Path):
        if CHROMIUM is None:
            pytest.fail("chromium not found; `make test` installs it (apt-get install chromium)")
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 20
        while not port_file.is_file() or not port_file.read_text().strip():
            assert self.proc.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.loads(direct.open(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        import websocket

        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(url, timeout=20, suppress_origin=True)
        self.next_id, self.events = 0, []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 30):
        deadline = time.monotonic() + seconds
        while not (value := self.js(expression)):
            if time.monotonic() > deadline:
                return value
            time.sleep(0.2)
        return value

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def browser(run, tmp_path_factory):
    chrome = Browser(tmp_path_factory.mktemp("chromium-profile"))
    for domain in ("Network", "Page", "Runtime"):
        chrome.send(f"{domain}.enable")
    chrome.send("Page.navigate", url=run["page"].as_uri())
    yield chrome
    chrome.close()


def test_the_kernel_no_longer_warns_about_tcp(run):
    assert run["page"].is_file()
    assert "without encryption" not in run["stderr"], run["stderr"]


def test_latex_is_typeset_offline(browser):
    count = browser.wait_for("document.querySelectorAll('.jp-MarkdownOutput .mjx-chtml').length >= 2 && "
                             "document.querySelectorAll('.jp-MarkdownOutput .mjx-chtml').length")  # fmt: skip
    assert count, "MathJax typeset nothing"
    text = browser.js("[...document.querySelectorAll('.jp-MarkdownOutput')].map(e => e.innerText).join(' ')")
    assert "$" not in text, f"raw LaTeX left in the page: {text[:200]!r}"
    assert browser.js("!!document.querySelector('.jp-MarkdownOutput .mjx-chtml.MJXc-display')"), "no display math"


def test_the_widget_player_plays(browser):
    readout = "document.querySelector('.widget-slider .widget-readout')"
    assert browser.wait_for(f"!!document.querySelector('.widget-play button') && !!{readout}"), "no widget player"
    assert browser.js(f"{readout}.textContent.trim()") == "0"
    browser.js("document.querySelector('.widget-play button').click()")
    value = browser.wait_for(f"Number({readout}.textContent) >= 3 && Number({readout}.textContent)", seconds=10)
    assert value, "the slider did not follow the Play widget"
    assert browser.wait_for("!!document.querySelector('.widget-hprogress')"), "no tqdm bar"
    # the widgets' Font Awesome 5 (found through __jupyter_widgets_assets_path__), and the Play icon's font
    fa5 = browser.js("document.fonts.load('900 16px \"Font Awesome 5 Free\"').then(f => f.map(x => x.status))")
    assert fa5 and set(fa5) == {"loaded"}, f"the widgets' icon font did not load: {fa5}"
    family = browser.js("getComputedStyle(document.querySelector('.widget-play button i'), '::before').fontFamily")
    loaded = browser.wait_for(
        "document.fonts.ready.then(() => [...document.fonts].some(f => f.status === 'loaded' && "
        f"f.family.replace(/[\"']/g, '') === {json.dumps(family.strip(chr(34) + chr(39)))}))"
    )
    assert loaded, f"the Play button's icon font ({family}) did not load"


def test_the_jshtml_buttons_show_icons(browser):
    assert browser.wait_for("document.querySelectorAll('.animation button i.fa').length >= 9"), "no player buttons"
    loaded = browser.wait_for(
        "document.fonts.ready.then(() => [...document.fonts]"
        ".some(f => f.family.replace(/[\"']/g, '') === 'FontAwesome' && f.status === 'loaded'))"
    )
    assert loaded, "the Font Awesome font did not load"
    glyph = browser.js("getComputedStyle(document.querySelector('.animation i.fa-play'), '::before').content")
    assert glyph not in (None, "", "none", "normal"), glyph
    width = browser.js("document.querySelector('.animation i.fa-play').getBoundingClientRect().width")
    assert width > 4, f"the play icon is {width}px wide"


def test_solutions_are_folded_and_images_described(browser):
    summary = browser.js("[...document.querySelectorAll('details:not([open]) > summary')].map(s => s.textContent)")
    assert summary == ["Solution"], summary
    assert "Solution to exercise 1" in browser.js("document.querySelector('details').textContent")
    assert not browser.js("document.querySelector('details').open")
    assert browser.wait_for("!!document.querySelector('img.widget-image')"), "the Image widget did not render"
    alts = browser.js("[...document.querySelectorAll('img')].map(i => i.getAttribute('alt'))")
    assert alts and all(alts), alts
    assert "A rising line" in alts
    assert browser.js("document.querySelector('img.widget-image').alt") == "A blank widget image"
    assert "Figure: A player" in alts  # the to_jshtml frame, described by the heading above its cell


def test_nothing_leaves_the_machine(browser):
    assert browser.wait_for("!!document.querySelector('.mjx-chtml') && !!document.querySelector('.widget-play')")
    browser.js("new Promise(r => setTimeout(r, 500))")  # let late requests (fonts, lazy MathJax files) land
    urls = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert any(u.endswith("embed-amd.js") for u in urls) and any("MathJax.js" in u for u in urls), urls
    remote = [u for u in urls if not u.startswith(("file://", "data:", "blob:"))]  # blob: made by the page
    assert not remote, f"requests left the machine: {remote}"
    failed = [e["params"] for e in browser.events if e.get("method") == "Network.loadingFailed"]
    assert not failed, f"files missing from _static: {failed}"
    errors = [e["params"]["exceptionDetails"] for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
    assert not errors, errors


def test_written_pages_load_nothing_remote(run):
    page = run["page"].read_text()
    assert pages.remote_references(page) == []
    assert (run["page"].parent / pages.STATIC / "html-manager" / "dist" / "embed-amd.js").is_file()
    assert 'src="_static/requirejs/require.js"' in page
    from nbconvert import HTMLExporter  # the check sees every CDN load of nbconvert's own page, scripts' too

    stock, _ = HTMLExporter().from_filename(str(run["page"].with_suffix(".ipynb")))
    found = " ".join(pages.remote_references(stock))
    for cdn in ("mathjax", "require", "mermaid", "html-manager", "font-awesome"):
        assert cdn in found, f"{cdn} not detected in {found}"


def test_a_remote_resource_in_an_output_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", {"text/html": '<script src="https://cdn.example/x.js">'})]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "remote.ipynb")
    with pytest.raises(pages.OfflinePageError, match=r"remote\.html: the page would still fetch https://cdn\.example"):
        export_html(tmp_path / "remote.ipynb")
    assert pages.remote_references('<link rel="stylesheet" href="//cdn.example/a.css">') == ["//cdn.example/a.css"]
    assert pages.remote_references('<a href="https://arxiv.org/abs/1907.04632">Peng</a>') == []


def test_missing_assets_name_make_assets(tmp_path):
    with pytest.raises(pages.AssetsMissing, match=r"run `make assets`"):
        pages.install_static(tmp_path / "out", root=tmp_path / "nothing")


def test_a_tampered_tarball_is_refused(tmp_path):
    asset = pages.ASSETS[1]
    with pytest.raises(ValueError, match=r"requirejs-2\.3\.8\.tgz: checksum mismatch"):
        pages.unpack(asset, b"not the tarball", tmp_path)
    assert not (tmp_path / asset.key).exists()
