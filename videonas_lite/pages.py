"""Executed pages that work offline: the HTML export of every executed notebook (``make reproduce``).

nbconvert's HTML template loads require.js, MathJax, mermaid and the widget manager from CDNs, and
matplotlib's ``to_jshtml`` players (notebook 05) link Font Awesome from a CDN; offline (a lab machine, a CI
artefact) every widget, every equation and the player's buttons vanish. Here the page loads only files that
ship with the run: :data:`ASSETS` (pinned npm tarballs, checked against npm's ``dist.integrity``) are
fetched once at install time by ``make assets`` (``python -m videonas_lite.pages fetch``) into
:data:`ASSET_ROOT`, copied once per run into ``<out_dir>/_static/``, and every script and style URL of the
page points there. The page also folds cells tagged ``solution`` into ``<details>`` (the exercises of every
notebook) and gives every image alt text: the cell's ``"alt"`` metadata, else ``Figure: <nearest heading>``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import re
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

__all__ = [
    "ASSETS",
    "ASSET_ROOT",
    "STATIC",
    "Asset",
    "AssetsMissing",
    "OfflinePageError",
    "export_page",
    "fetch_assets",
    "install_static",
    "remote_references",
]

REGISTRY = "https://registry.npmjs.org"
ASSET_ROOT = Path(sys.prefix) / "share" / "videonas-lite" / "assets"
STATIC = "_static"  # beside the pages of a run
_STAMP = ".integrity"  # per asset folder: the npm integrity it was unpacked from
_MANIFEST = ".manifest.json"  # in <out_dir>/_static: which assets were copied


class AssetsMissing(FileNotFoundError):
    """The offline page assets are not installed (``make assets``); the CLI prints it as one line."""


class OfflinePageError(ValueError):
    """A written page would still load something from the network."""


@dataclass(frozen=True)
class Asset:
    """One npm package version, the files of it that pages need, and its npm ``dist.integrity`` (sha512)."""

    key: str  # folder name under ASSET_ROOT and <out_dir>/_static
    package: str
    version: str
    integrity: str
    keep: tuple[str, ...]  # glob patterns relative to the package root; '*' does not cross '/'

    @property
    def tarball(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package.rsplit('/', 1)[-1]}-{self.version}.tgz"


ASSETS: tuple[Asset, ...] = (
    # The widget manager of ipywidgets 8.1.x (state version 2); embed-amd.js bundles the base and controls
    # widgets and their CSS, the Font Awesome 5 fonts beside it are found through __jupyter_widgets_assets_path__.
    Asset("html-manager", "@jupyter-widgets/html-manager", "1.0.15",
          "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
          ("package.json", "dist/embed-amd.js", "dist/*.woff2", "dist/*.woff")),
    Asset("requirejs", "requirejs", "2.3.8",
          "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
          ("package.json", "require.js")),
    # MathJax 2.7.7 as nbconvert configures it (TeX-AMS_CHTML-full,Safe): the combined config, the TeX input,
    # the CommonHTML output and its woff fonts, the extensions it loads on demand; 1.3 MB of the 71 MB package.
    Asset("mathjax", "mathjax", "2.7.7",
          "sha512-OOl0B2/0tSJAtAZarXnQuLDBLgTNRqiI9VqHTQzPsxf4okT2iIpDrvaklK9x2QEMD1sDj4yRn11Ygci41DxMAQ==",
          ("package.json", "LICENSE", "MathJax.js", "config/TeX-AMS_CHTML-full.js", "config/Safe.js",
           "extensions/*.js", "extensions/TeX/*.js", "extensions/MathML/*.js", "extensions/a11y/accessibility-menu.js",
           "jax/input/TeX/*.js", "jax/element/mml/*.js", "jax/element/mml/optable/*.js",
           "jax/output/CommonHTML/*.js", "jax/output/CommonHTML/autoload/*.js", "jax/output/CommonHTML/fonts/TeX/*.js",
           "fonts/HTML-CSS/TeX/woff/*.woff")),
    # matplotlib's to_jshtml links Font Awesome 4.4 for its buttons; 4.7 has the same icons.
    Asset("font-awesome", "font-awesome", "4.7.0",
          "sha512-U6kGnykA/6bFmg1M/oT9EkFeIYv7JlX3bozwQJWiiLz6L0w3F5vBVPxHlwyX/vtNq1ckcpRKOB9f2Qal/VtFpg==",
          ("package.json", "css/font-awesome.min.css", "fonts/fontawesome-webfont.woff2",
           "fonts/fontawesome-webfont.woff")),
)  # fmt: skip

MATHJAX_URL = f"{STATIC}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
REQUIRE_JS_URL = f"{STATIC}/requirejs/require.js"
WIDGET_RENDERER_URL = f"{STATIC}/html-manager/dist/embed-amd.js"
FONT_AWESOME_CSS = f"{STATIC}/font-awesome/css/font-awesome.min.css"

# -- install time ------------------------------------------------------------------------------------------


def _wanted(path: str, patterns: tuple[str, ...]) -> bool:
    parts = PurePosixPath(path).parts
    return any(
        len(parts) == len(p := PurePosixPath(pattern).parts) and all(map(fnmatchcase, parts, p))
        for pattern in patterns
    )


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _installed(asset: Asset, root: Path) -> bool:
    stamp = root / asset.key / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == asset.integrity


def unpack(asset: Asset, data: bytes, root: Path) -> Path:
    """Check ``data`` (the npm tarball of ``asset``) against its integrity, then unpack the kept files."""
    got = _sri(data)
    if got != asset.integrity:
        raise ValueError(f"{asset.tarball}: checksum mismatch (expected {asset.integrity}, got {got})")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{asset.key}-", dir=root))
    try:
        found = set()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                rel = member.name.split("/", 1)[-1]  # npm tarballs hold package/<files>
                if member.isfile() and _wanted(rel, asset.keep):
                    found.update(p for p in asset.keep if _wanted(rel, (p,)))
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(tar.extractfile(member).read())
        if missing := [p for p in asset.keep if p not in found]:
            raise ValueError(f"{asset.tarball}: no file matches {missing}")
        (tmp / _STAMP).write_text(asset.integrity + "\n")
        shutil.rmtree(root / asset.key, ignore_errors=True)
        tmp.rename(root / asset.key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root / asset.key


def fetch_assets(root: Path = ASSET_ROOT, assets: tuple[Asset, ...] = ASSETS, quiet: bool = False) -> Path:
    """Download each asset not yet installed in ``root`` from the npm registry, verify, unpack (``make assets``)."""
    from urllib.request import urlopen

    for asset in assets:
        if _installed(asset, root):
            continue
        if not quiet:
            print(f"fetching {asset.package}@{asset.version} into {root / asset.key}")
        try:
            with urlopen(asset.tarball, timeout=120) as response:
                data = response.read()
        except OSError as err:
            raise ConnectionError(f"could not download {asset.tarball}: {err}") from None
        unpack(asset, data, root)
    return root


# -- run time ----------------------------------------------------------------------------------------------


def install_static(out_dir: Path, root: Path = ASSET_ROOT) -> Path:
    """Copy the assets into ``out_dir/_static`` unless this run already has them; return that folder."""
    if missing := [a.key for a in ASSETS if not _installed(a, root)]:
        raise AssetsMissing(
            f"offline page assets {', '.join(missing)} are missing from {root}; run `make assets` to fetch them"
        )
    static = Path(out_dir) / STATIC
    manifest = json.dumps({a.key: a.integrity for a in ASSETS}, indent=1) + "\n"
    stamp = static / _MANIFEST
    if stamp.is_file() and stamp.read_text() == manifest:
        return static
    shutil.rmtree(static, ignore_errors=True)
    for asset in ASSETS:
        shutil.copytree(root / asset.key, static / asset.key, ignore=shutil.ignore_patterns(_STAMP))
    stamp.write_text(manifest)
    return static


_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt\s*=)", re.IGNORECASE)
_FONT_AWESOME_CDN = re.compile(r"""(?:https?:)?//[^"'\s>]*/font-awesome(?:\.min)?\.css""")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_REMOTE = [  # what makes a browser fetch: attributes (not <a href>), CSS url()/@import, scripts setting .src
    re.compile(r"""<(?!a\b)\w[^>]*?\b(?:src|href)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)""", re.IGNORECASE),
    re.compile(r"""(?:url\(|@import\s)\s*["']?\s*((?:https?:)?//[^"')\s]+)""", re.IGNORECASE),
    re.compile(r"""\b\w*[sS]rc\w*\s*=\s*["']((?:https?:)?//[^"']+)["']"""),
    re.compile(r"""\bimport\(\s*["']((?:https?:)?//[^"']+)["']"""),
]


def remote_references(page: str) -> list[str]:
    """Every URL in ``page`` that a browser would fetch from the network (empty for an offline page)."""
    return sorted({m.group(1) for pattern in _REMOTE for m in pattern.finditer(page)})


def with_alt(markup: str, alt: str) -> str:
    """Give every ``<img>`` in ``markup`` that has none the alt text ``alt`` (a jinja filter of the page)."""
    return _IMG_WITHOUT_ALT.sub(f'<img alt="{html.escape(alt or "Figure", quote=True)}"', str(markup))


def localize(markup: str) -> str:
    """Point the Font Awesome CDN link of matplotlib's ``to_jshtml`` at the run's copy."""
    return _FONT_AWESOME_CDN.sub(FONT_AWESOME_CSS, str(markup))


def _plain_heading(line: str) -> str:
    text = re.sub(r"[`*_$]|\\\(|\\\)", "", line)
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip()


def describe_images(nb) -> dict[str, str]:
    """Set ``cell.metadata.alt`` of every code cell without it to ``Figure: <nearest markdown heading above>``.

    Returns ``{cell id: alt}`` for the page's script that describes the images widgets draw (``widgets.Image``,
    figures inside an ``Output`` widget), which exist only once the widget manager has run.
    """
    heading, alts = None, {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            if found := _HEADING.findall(cell.source):
                heading = _plain_heading(found[-1])
        elif cell.cell_type == "code":
            if not str(cell.metadata.get("alt", "")).strip():
                cell.metadata["alt"] = f"Figure: {heading}" if heading else f"Figure: output of code cell {index}"
            if cell.get("id"):
                alts[cell.id] = str(cell.metadata.alt)
    return alts


_TEMPLATE = "videonas_offline.html.j2"
_TEMPLATE_TEXT = """{%- extends 'index.html.j2' -%}
{% block jupyter_widgets %}
{%- if "widgets" in nb.metadata -%}
<script>
// embed-amd.js finds its fonts beside the AMD modules it defines: map their ids into the run's copy
window.__jupyter_widgets_assets_path__ = "STATIC/html-manager/dist/";
require.config({paths: {"@jupyter-widgets/html-manager/dist": "STATIC/html-manager/dist",
                        "@jupyter-widgets": "STATIC/html-manager/dist"}});
</script>
{{ super() }}
{%- endif -%}
{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}
{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
details.videonas-solution { margin: 0.5em 0; }
details.videonas-solution > summary { cursor: pointer; font-weight: bold; padding: 0.25em 0; }
</style>
{% endblock extra_css %}
{% block codecell %}
{%- if "solution" in cell.metadata.get("tags", []) -%}
<details class="videonas-solution"><summary>Solution</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock codecell %}
{% block footer_js %}
<script>
(function () {  // images that widgets draw get the alt text of their cell
  var alts = {{ resources.image_alts | tojson }};
  function describe() {
    document.querySelectorAll("img:not([alt])").forEach(function (img) {
      var cell = img.closest('[id^="cell-id="]');
      img.setAttribute("alt", (cell && alts[cell.id.slice(8)]) || "Figure");
    });
  }
  new MutationObserver(describe).observe(document.body, {childList: true, subtree: true});
  describe();
})();
</script>
{% endblock footer_js %}
{% block data_png %}{{ super() | with_alt(cell.metadata.get("alt", "")) }}{% endblock data_png %}
{% block data_jpg %}{{ super() | with_alt(cell.metadata.get("alt", "")) }}{% endblock data_jpg %}
{% block data_svg %}{{ super() | with_alt(cell.metadata.get("alt", "")) }}{% endblock data_svg %}
{% block data_html %}{{ super() | localize | with_alt(cell.metadata.get("alt", "")) }}{% endblock data_html %}
""".replace("STATIC", STATIC)


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_loaders=[DictLoader({_TEMPLATE: _TEMPLATE_TEXT})],
        template_file=_TEMPLATE,
        mathjax_url=MATHJAX_URL,
        require_js_url=REQUIRE_JS_URL,
        widget_renderer_url=WIDGET_RENDERER_URL,
    )
    exporter.register_filter("with_alt", with_alt)
    exporter.register_filter("localize", localize)
    return exporter


def export_page(executed: str | Path, target: str | Path | None = None) -> Path:
    """Write the executed notebook as an HTML page that needs no network; ``_static/`` lands beside it."""
    import nbformat

    executed = Path(executed)
    target = Path(target) if target else executed.with_suffix(".html")
    install_static(target.parent)
    nb = nbformat.read(executed, as_version=4)
    alts = describe_images(nb)
    resources = {"metadata": {"name": executed.stem, "path": str(executed.parent)}, "image_alts": alts}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    if remote := remote_references(body):
        raise OfflinePageError(f"{target.name}: the page would still fetch {', '.join(remote[:3])} from the network")
    target.write_text(body, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m videonas_lite.pages fetch [--root DIR]``: install the assets (``make assets``)."""
    parser = argparse.ArgumentParser(prog="python -m videonas_lite.pages", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--root", type=Path, default=ASSET_ROOT, help=f"where to install (default {ASSET_ROOT})")
    args = parser.parse_args(argv)
    try:
        fetch_assets(args.root)
    except (OSError, ValueError) as err:
        print(f"error: offline page assets: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
