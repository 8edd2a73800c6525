"""The visual report: cases worst first with three images each, charts, a PNG summary, and a
page that loads cleanly in a real headless browser (skipped without chromium)."""

import base64
import io
import re
import textwrap

import numpy as np
import pytest
from PIL import Image

from baselines.constant import box_program
from cadbench.datasets.base import Sample
from cadbench.report import make_report, pick_cases
from cadbench.records import SampleResult
from cadbench.report_browser import check_in_browser, find_chromium
from cadbench.run import RunSettings, run_model

PROGRAMS = {"good": box_program(1.0, 0.5, 0.25), "broken": box_program(0.5, 0.5, 0.5),
            "boxy": box_program(0.3, 0.3, 0.9)}

# Returns the truth for "good", a syntax error for "broken", a fixed box otherwise: one case
# of each kind. It knows the truth by id (a test fixture, not a model).
SUBMISSION = textwrap.dedent(f'''
    from cadbench.submissions import Submission

    class Mixed(Submission):
        name = "mixed_for_report"

        def generate(self, samples):
            out = []
            for s in samples:
                if s.id == "good":
                    out.append({PROGRAMS["good"]!r})
                elif s.id == "broken":
                    out.append("solid = (")
                else:
                    out.append({box_program(0.8, 0.8, 0.2)!r})
            return out
''')


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "mixed.py").write_text(SUBMISSION)
    rng = np.random.default_rng(0)
    samples = [Sample(i, code, rng.integers(0, 256, (64, 64, 3), np.uint8))
               for i, code in PROGRAMS.items()]
    run_model(RunSettings(model=f"{tmp / 'mixed.py'}:Mixed", dataset="tiny"),
              run_dir=tmp / "run", write_record=False, workers=1, progress=False,
              load_samples=lambda name, split: samples)
    html_path, png_path = make_report(tmp / "run", n_cases=10, progress=False, samples=samples)
    return html_path, png_path


def test_cases_worst_first_with_three_images_each(report):
    html_path, _ = report
    html = html_path.read_text()
    assert re.findall(r"id='case-(\w+)'", html) == ["broken", "boxy", "good"]
    uris = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(uris) == 2 + 3 * 3                 # two charts, three images per case
    for uri in uris:                               # every inlined image decodes
        Image.open(io.BytesIO(base64.b64decode(uri))).verify()
    assert "syntax_error" in html and "IoU 1.000" in html
    assert "http://" not in html and "https://" not in html   # self-contained
    # The broken case has no rendered prediction: its third image is the placeholder.
    broken = html.split("id='case-broken'")[1].split("id='case-")[0]
    assert broken.count("<img") == 3


def test_png_summary(report):
    _, png_path = report
    img = Image.open(png_path)
    assert img.width >= 1000 and img.height >= 400
    # Not blank: the charts and thumbnails put many colours on it.
    assert len(img.convert("RGB").getcolors(maxcolors=1 << 20)) > 50


def test_pick_cases_keeps_the_worst_and_spreads_the_rest():
    results = [SampleResult(id=f"r{i:02d}", status="ok", metrics={"iou": i / 40})
               for i in range(40)] + [SampleResult(id="fail", status="timeout")]
    picked = pick_cases(results, 10)
    assert [r.id for r in picked[:5]] == ["fail", "r00", "r01", "r02", "r03"]
    assert picked[-1].id == "r39" and len(picked) == 10


@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_report_loads_cleanly_in_headless_chromium(report, tmp_path):
    html_path, _ = report
    result = check_in_browser(html_path, screenshot=tmp_path / "shot.png")
    assert result.errors == []
    assert result.images == 11 and result.loaded == 11
    assert (tmp_path / "shot.png").stat().st_size > 10_000
