"""The report renders in a real browser, offline: headless Chromium draws every chart.

``report/html_report`` is materialised through Dagster on a published serving database made
from the hand-made marts of ``tests/lib/test_report.py`` (the warehouse, attached read-only,
holds the purge log). Chromium then loads the file with every host name unresolvable, so a
chart that needed the network would stay empty, and dumps the DOM after plotly has drawn:
each chart container must hold plotly's rendered ``svg.main-svg``. A full-page screenshot is
kept in ``tests/artifacts/report_chromium.png`` (git-ignored) to look at.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium``; CI installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project import settings
from dagster_project.defs.report import REPORT_KEY, html_report
from dagster_project.lib import serving
from tests.lib.test_report import create_marts

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCREENSHOT = ARTIFACTS / "report_chromium.png"
BROWSER_TIMEOUT_S = 120

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not installed at /usr/bin/chromium (apt-get install -y chromium)",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            # no name resolves: anything fetched from the network fails to load
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    """Materialise report/html_report on published hand-made marts; the report's path."""
    data = tmp_path_factory.mktemp("report_chromium") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVEIL_DATA_DIR", str(data))
        patch.setenv("REVEIL_WAREHOUSE", str(data / "warehouse" / "reveil.duckdb"))
        for var in ("REVEIL_SERVING_DIR", "REVEIL_REPORTS_DIR", "REVEIL_DUCKDB_TEMP_DIR"):
            patch.delenv(var, raising=False)
        warehouse = settings.warehouse_path()
        warehouse.parent.mkdir(parents=True)
        with duckdb.connect(str(warehouse)) as con:
            create_marts(con)
            con.execute("drop schema meta cascade")  # the publication writes its own
        serving.publish_serving(warehouse, settings.serving_dir(), schemas=("marts",))

        result = dg.materialize([html_report])

        assert result.success
        metadata = result.asset_materializations_for_node("report__html_report")[0].metadata
        path = Path(metadata["path"].value)
        assert metadata["url"].value == path.as_uri()
        assert metadata["charts"].value == 10
        assert metadata["missing_tables"].value == []  # purge log found in the warehouse
        assert path.parent == settings.reports_dir()
        assert (settings.reports_dir() / "latest.html").exists()
        return path


def test_the_asset_key_and_kinds():
    spec = html_report.specs_by_key[REPORT_KEY]
    assert spec.kinds == {"html", "plotly"}
    assert spec.group_name == "serving"
    assert [dep.asset_key for dep in spec.deps] == [dg.AssetKey(["serving", "marts"])]


@requires_chromium
def test_every_chart_renders_offline(report_file, tmp_path):
    run = chromium(tmp_path / "profile", "--dump-dom", report_file.as_uri())
    dom = run.stdout

    assert "<body" in dom, f"no DOM dumped: {run.stderr[-2000:]}"
    expected = int(re.search(r'name="reveil-chart-count" content="(\d+)"', dom).group(1))
    chunks = dom.split('data-chart="')[1:]
    assert len(chunks) == expected == 10
    for chunk in chunks:
        name = chunk.split('"', 1)[0]
        # up to the next chart: plotly drew its svg layers inside this container
        assert re.search(r'<svg[^>]*class="main-svg"', chunk), f"chart {name} did not render"
    assert len(re.findall(r'<svg[^>]*class="main-svg"', dom)) >= expected
    # the RFM heatmap wrote its cell labels, the funnel its stages
    assert "champions" in dom and "human open" in dom


@requires_chromium
def test_screenshot_is_kept_as_an_artefact(report_file, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / "report.png"

    run = chromium(
        tmp_path / "profile",
        "--window-size=1280,5600",
        f"--screenshot={shot}",
        report_file.as_uri(),
    )

    assert shot.exists() and shot.stat().st_size > 50_000, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copyfile(shot, SCREENSHOT)
    shutil.copyfile(report_file, ARTIFACTS / "report_chromium.html")
