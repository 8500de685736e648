"""The HTML report as a person sees it: real headless Chromium at 1400 and 800 px.

Chromium loads the page with a small probe script appended (the page itself has no
JavaScript) that measures, after layout, whether the page or any table is wider than the
window; ``--dump-dom`` hands the verdict back. A screenshot at the same size is taken too, so
a failing run leaves a picture of what went wrong next to the page.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzers.cli import main
from instrumentation import schema

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "worker.jsonl"

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

PROBE = """<script>
(() => {
  const width = document.documentElement.clientWidth;
  const over = [];
  if (document.documentElement.scrollWidth > width) {
    over.push("page:" + document.documentElement.scrollWidth);
  }
  document.querySelectorAll("table").forEach((table, i) => {
    const box = table.getBoundingClientRect();
    if (box.right > width + 0.5) over.push("table" + i + ":" + Math.round(box.right));
  });
  document.body.setAttribute("data-probe", JSON.stringify({width, over}));
})();
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run scripts/test (it installs it), "
                    "or `apt-get install -y chromium`")
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the bundled sample plus lines with very long names and messages."""
    folder = tmp_path_factory.mktemp("html")
    log = folder / "worker.jsonl"
    long_name = "tenant_workflows.pipelines." + "very_long_module_name_" * 8 + "task"
    extra = [
        {schema.TIME: "2026-11-28T14:10:40.000000Z", schema.SEVERITY: "ERROR",
         schema.EVENT: "task_failed", schema.TASK_ID: f"00000000-0000-4000-8000-00000000000{i}",
         schema.TASK_NAME: long_name, schema.EXCEPTION_TYPE: "builtins.ValueError",
         schema.EXCEPTION_MESSAGE: "a message without spaces " + "x" * 400,
         schema.ORGANIZATION_ID: "org-" + "y" * 80}
        for i in range(3)
    ]
    log.write_text(SAMPLE.read_text() + "".join(json.dumps(r) + "\n" for r in extra))
    out = folder / "report.html"
    result = CliRunner().invoke(main, ["analyze", str(log), "-o", "html",
                                       "--out-file", str(out)])
    assert result.exit_code in (0, 1), result.output
    probe_page = folder / "probe.html"
    probe_page.write_text(out.read_text().replace("</body>", PROBE + "</body>"))
    return probe_page


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 800])
def test_no_table_overflows_the_window(page: Path, width: int, tmp_path: Path) -> None:
    common = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
              f"--window-size={width},3000"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    marker = 'data-probe="'
    assert marker in dom, dom[:2000]
    raw = dom[dom.index(marker) + len(marker):].split('"', 1)[0]
    probe = json.loads(raw.replace("&quot;", '"'))
    shot = page.with_name(f"report-{width}.png")
    subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120, check=True)
    assert png_size(shot) == (width, 3000)
    assert probe["width"] == width
    assert probe["over"] == [], f"overflows at {width}px: {probe['over']} (see {shot})"


def test_page_has_anchors_right_aligned_numbers_and_plurals(page: Path) -> None:
    html = page.read_text()
    assert '<nav class="toc"' in html
    for anchor in ("failures", "stuck-chords", "slow-tasks"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    assert '<td class="num">' in html and "<th class=num" in html
    assert "log scale" in html
    assert "1 seconds" not in html and "1 more rows" not in html
    assert '<tr class=bad>' in html  # the sample's stuck chord
