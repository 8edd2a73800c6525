"""Visual report of a run folder: a self-contained HTML page and a PNG summary.

For a sample of cases (the worst first): the input image, the rendered ground truth, the
rendered prediction, IoU and status; plus the IoU histogram and a bar chart of statuses.
Meshes come from re-running the programs in the sandbox (never in this process); ground truth
is read from scoring's cache when it is there. Charts are drawn with Pillow.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .inputs import Source
from .metrics import headline_rows
from .records import RunRecord, SampleResult, load_results

THUMB = 160                  # rendered thumbnail size, pixels
HIST_BINS = 10
STATUS_COLORS = {"ok": (76, 153, 92)}
FAIL_COLOR = (200, 80, 70)


@dataclass
class Case:
    """One reference and its candidate-0 prediction, ready to draw."""

    id: str
    status: str
    iou: float | None
    error: str | None
    code: str
    input_image: np.ndarray | None = None
    gt_image: np.ndarray | None = None
    pred_image: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    pred_note: str = ""          # placeholder text when there is no prediction image

    @property
    def pred_placeholder(self) -> str:
        return self.pred_note or self.status


# -- choosing and preparing cases ----------------------------------------------------------

def badness(r: SampleResult) -> float:
    """Sort key, worst first: failures (-1), then ascending IoU."""
    iou = r.metrics.get("iou") if r.status == "ok" else None
    return -1.0 if iou is None else float(iou)


def pick_cases(results: list[SampleResult], n: int) -> list[SampleResult]:
    """The n/2 worst candidates plus an even spread over the rest; returned worst first."""
    first = sorted((r for r in results if r.candidate == 0), key=lambda r: (badness(r), r.id))
    if len(first) <= n:
        return first
    worst = first[:n // 2]
    rest = first[n // 2:]
    idx = np.linspace(0, len(rest) - 1, n - len(worst)).round().astype(int)
    return worst + [rest[i] for i in sorted(set(idx.tolist()))]


def read_run_inputs(run_dir: Path, references: str | None, predictions: str | None,
                    load: bool = True):
    """(samples by id or None, the prediction by id: its program, or the GeometryFile of a
    mesh or STEP prediction) for a run or score folder."""
    codes: dict[str, Source] = {}
    pred_path = Path(predictions) if predictions else run_dir / "predictions.jsonl"
    if pred_path.exists():
        from .inputs import load_predictions
        for p in load_predictions(pred_path):
            if p.candidate == 0:
                codes[p.id] = p.source
    samples = None
    run_json = run_dir / "run.json"
    if references and Path(references).exists():
        from .datasets import load_dataset  # a folder or an evaluation JSONL: images too
        samples = {s.id: s for s in load_dataset(references)}
    elif references:  # a dataset spec NAME[:SPLIT]
        from .datasets import load_dataset
        name, _, split = references.partition(":")
        samples = {s.id: s for s in load_dataset(name, split or "test")}
    elif load and run_json.exists():
        settings = json.loads(run_json.read_text())
        from .datasets import load_dataset
        samples = {s.id: s for s in load_dataset(settings["dataset"], settings["split"],
                                                 **settings.get("dataset_options", {}))}
    return samples, codes


def _result_var(run_dir: Path) -> str:
    path = run_dir / "score_config.json"
    if path.exists():
        return json.loads(path.read_text()).get("exec", {}).get("result_var", "solid")
    return "solid"


def _shown_source(source: Source) -> str:
    """What the report shows as a prediction's text: its program, or which file it was."""
    if isinstance(source, str):
        return source
    return (f"# geometry file {os.path.basename(source.path)} ({source.format}, "
            f"{source.size} bytes, sha256 {source.sha256[:16]})")


def _gt_mesh_from_cache(code: Source, exec_config):
    """The mesh scoring cached for this reference, or None."""
    from .geometry.mesh import Mesh
    from .scoring import gt_cache_dir, gt_key
    path = gt_cache_dir() / f"{gt_key(code, exec_config)}.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        return Mesh.from_arrays(z["vertices"], z["faces"])


def prepare_cases(picked: list[SampleResult], samples, codes, result_var: str,
                  progress: bool = True) -> list[Case]:
    """Render ground truth and prediction of each picked case (programs run in the sandbox)."""
    from tqdm import tqdm

    from .config import ExecConfig
    from .execute import Sandbox
    from .inputs import references_from_samples
    from .render import render_mesh

    exec_config = ExecConfig(result_var=result_var)
    cases = []
    with Sandbox(exec_config) as sandbox:
        for r in tqdm(picked, desc="render cases", unit="case", file=sys.stderr,
                      disable=not progress):
            iou = r.metrics.get("iou") if r.status == "ok" else None
            source = codes.get(r.id, "")
            case = Case(id=r.id, status=r.status, iou=iou, error=r.error,
                        code=_shown_source(source))
            sample = samples.get(r.id) if samples else None
            if sample is not None:
                case.input_image = getattr(sample, "image", None)
                reference = references_from_samples([sample])[0].source  # program or file
                mesh = _gt_mesh_from_cache(reference, exec_config)
                if mesh is None:
                    res = sandbox.run(reference)
                    mesh = res.mesh
                    if mesh is None:
                        case.notes.append(f"ground truth: {res.status}")
                if mesh is not None:
                    case.gt_image = render_mesh(mesh, size=THUMB)
            else:
                case.notes.append("reference not available")
            if r.id not in codes:
                case.pred_note = "code not given"
                case.notes.append("prediction code not available (pass --predictions)")
            elif not isinstance(source, str) or source.strip():
                res = sandbox.run(source)
                if res.mesh is not None:
                    case.pred_image = render_mesh(res.mesh, size=THUMB)
            cases.append(case)
    return cases


# -- charts (Pillow) -----------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def iou_histogram(ious: list[float], n_failed: int, width=480, height=260):
    """Bars: one for failures (IoU counted as 0 in 'all'), then HIST_BINS bins over [0, 1]."""
    counts, _ = np.histogram(np.clip(ious, 0, 1), bins=HIST_BINS, range=(0, 1))
    bars = [("fail", n_failed, FAIL_COLOR)] + [
        (f"{i / HIST_BINS:.1f}", int(c), (70, 110, 180)) for i, c in enumerate(counts)]
    return _bar_chart(bars, "IoU of candidate 0 (failures on the left)", width, height)


def status_chart(counts: dict[str, int], width=480, height=260):
    bars = [(s, c, STATUS_COLORS.get(s, FAIL_COLOR))
            for s, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return _bar_chart(bars, "statuses of candidate 0", width, height, rotate_labels=True)


def _bar_chart(bars, title, width, height, rotate_labels=False):
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font, small = _font(14), _font(11)
    d.text((10, 6), title, fill="black", font=font)
    left, right, top, bottom = 40, width - 10, 30, height - (70 if rotate_labels else 30)
    d.line([(left, bottom), (right, bottom)], fill="black")
    top_count = max([c for _, c, _ in bars] + [1])
    slot = min((right - left) / max(len(bars), 1), 80.0)  # one bar must not fill the chart
    for i, (label, count, color) in enumerate(bars):
        x0 = left + i * slot + slot * 0.15
        x1 = left + (i + 1) * slot - slot * 0.15
        y0 = bottom - (bottom - top) * count / top_count
        if count:
            d.rectangle([x0, y0, x1, bottom], fill=color)
        d.text(((x0 + x1) / 2, y0 - 2), str(count), fill="black", font=small, anchor="mb")
        if rotate_labels:
            tw = int(d.textlength(label, font=small)) + 4
            lab = Image.new("RGBA", (tw, 14), (255, 255, 255, 0))
            ImageDraw.Draw(lab).text((0, 0), label, fill="black", font=small)
            lab = lab.rotate(45, expand=True)
            img.paste(lab, (int((x0 + x1) / 2 - lab.width + 6), bottom + 4), lab)
        else:
            d.text(((x0 + x1) / 2, bottom + 4), label, fill="black", font=small, anchor="ma")
    return img


def _placeholder(text: str, size: int = THUMB):
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (size, size), (235, 235, 235))
    d = ImageDraw.Draw(img)
    d.text((size / 2, size / 2), text, fill=(120, 120, 120), font=_font(12), anchor="mm")
    return img


def _as_pil(arr, fallback: str):
    from PIL import Image
    if arr is None:
        return _placeholder(fallback)
    img = Image.fromarray(np.asarray(arr, dtype=np.uint8))
    return img if img.size == (THUMB, THUMB) else img.resize((THUMB, THUMB))


def summary_png(title: str, lines: list[str], hist, status, cases: list[Case], columns=4):
    """One PNG: headline, the two charts, and a grid of cases (input | truth | prediction)."""
    from PIL import Image, ImageDraw
    cell_w, cell_h = 3 * THUMB + 20, THUMB + 40
    grid_w = columns * cell_w
    rows = (len(cases) + columns - 1) // columns
    header_h = 30 + 20 * len(lines)
    width = max(grid_w, hist.width + status.width + 30)
    img = Image.new("RGB", (width, header_h + hist.height + 24 + rows * cell_h), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 8), title, fill="black", font=_font(18))
    for i, line in enumerate(lines):
        d.text((10, 34 + 20 * i), line, fill="black", font=_font(13))
    img.paste(hist, (10, header_h))
    img.paste(status, (hist.width + 20, header_h))
    y_grid = header_h + hist.height + 24
    d.text((10, y_grid - 18), "each case: input image | ground truth | prediction (worst first)",
           fill=(90, 90, 90), font=_font(12))
    for k, c in enumerate(cases):
        x, y = (k % columns) * cell_w, y_grid + (k // columns) * cell_h
        for j, (arr, fb) in enumerate(((c.input_image, "no image"), (c.gt_image, "no truth"),
                                        (c.pred_image, c.pred_placeholder))):
            img.paste(_as_pil(arr, fb), (x + 5 + j * (THUMB + 5), y + 5))
        d.text((x + 5, y + THUMB + 10), f"{c.id}  {c.status}  IoU {_fmt(c.iou)}",
               fill="black", font=_font(12))
    return img


# -- HTML ----------------------------------------------------------------------------------

def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def png_data_uri(img) -> str:
    """A PIL image or uint8 array as an inline `data:image/png;base64,...` URI."""
    from PIL import Image
    if not isinstance(img, Image.Image):
        img = Image.fromarray(np.asarray(img, dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table.metrics td{padding:2px 12px 2px 0;white-space:pre} .charts img{margin-right:16px;border:1px solid #ddd}
.case{display:inline-block;vertical-align:top;margin:8px;padding:8px;border:1px solid #ccc;
border-radius:6px;width:510px} .case img{width:160px;height:160px;margin-right:4px}
.ok{color:#2d7a3e} .fail{color:#b03a2e} pre{white-space:pre-wrap;font-size:11px;
max-height:240px;overflow:auto;background:#f6f6f6;padding:6px}
.labels span{display:inline-block;width:164px;font-size:12px;color:#666}
"""


def render_html(title: str, lines: list[str], hist, status, cases: list[Case]) -> str:
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1><table class='metrics'>",
             *(f"<tr><td>{esc(line)}</td></tr>" for line in lines), "</table>",
             "<div class='charts'>",
             f"<img alt='IoU histogram' src='{png_data_uri(hist)}'>",
             f"<img alt='status bar chart' src='{png_data_uri(status)}'></div>",
             f"<h2>Cases, worst first ({len(cases)})</h2>"]
    for c in cases:
        cls = "ok" if c.status == "ok" else "fail"
        imgs = "".join(
            f"<img alt='{esc(alt)} {esc(c.id)}' src='{png_data_uri(_as_pil(arr, fb))}'>"
            for alt, arr, fb in (("input", c.input_image, "no image"),
                                 ("ground truth", c.gt_image, "no truth"),
                                 ("prediction", c.pred_image, c.pred_placeholder)))
        err = f"<div class='fail'>{esc(c.error)}</div>" if c.error else ""
        notes = "".join(f"<div>{esc(n)}</div>" for n in c.notes)
        parts.append(
            f"<div class='case' id='case-{esc(c.id)}'><b>{esc(c.id)}</b> "
            f"<span class='{cls}'>{esc(c.status)}</span> IoU {_fmt(c.iou)}"
            f"<div class='labels'><span>input</span><span>ground truth</span>"
            f"<span>prediction</span></div>{imgs}{err}{notes}"
            f"<details><summary>predicted code</summary><pre>{esc(c.code)}</pre></details>"
            f"</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# -- the whole report ----------------------------------------------------------------------

def read_record(run_dir: Path) -> RunRecord:
    """The run's record (record.json, else a score folder's summary.json)."""
    path = run_dir / "record.json"
    if not path.exists():
        path = run_dir / "summary.json"
    if not path.exists():
        raise InputError(f"{run_dir}: no record.json or summary.json (not a scored run folder)")
    return RunRecord.load(path)


def repeat_folders(run_dir: Path) -> list[Path]:
    """The run folders of a `cadbench run --repeats` folder, as its record lists them
    (relative ones from the checkout, else from here); [] for any other folder."""
    path = run_dir / "record.json"
    rec = RunRecord.load(path) if path.exists() else None
    if rec is None or rec.repeats is None:
        return []
    root = Path(__file__).resolve().parent.parent
    out = []
    for r in rec.repeats.runs:
        p = Path(r.run_dir)
        out.append(p if p.is_absolute() or not (root / p).is_dir() else root / p)
    return out


def headline(run_dir: Path, more: list[Path] | None = None) -> tuple[str, list[str], dict]:
    """Title, metric lines and status counts from the run's record; with `more` run folders
    (repeats of the same run with other seeds), or for a record combined from repeats, each
    number is the mean ± sample std over the runs."""
    rec = read_record(run_dir)
    if more:
        from .repeats import combine_records
        rec = combine_records([rec, *(read_record(d) for d in more)],
                              [str(d) for d in [run_dir, *more]])
    m, reps = rec.metrics, rec.repeats

    def cell(key: str, group: tuple[str, str] | None = None, value=None) -> str:
        stats = reps.stats(key, group) if reps else None
        if stats is not None:
            from .repeats import format_stats
            return format_stats(stats, _fmt)
        return _fmt(m.get(key) if value is None else value)

    where = "/".join(x for x in (rec.dataset, rec.split) if x)
    title = f"cadbench report: {rec.model or run_dir.name}" + (f" on {where}" if where else "")
    metrics = "   ".join(f"{label} {cell(key)}" for label, key, _ in headline_rows(m))
    lines = [f"samples {m.get('n')}   VSR {cell('vsr')}   {metrics}",
             "statuses: " + ", ".join(f"{k} {v}" for k, v in rec.status_counts.items())]
    if reps:
        lines.insert(0, f"over {reps.describe()}; statuses summed over the runs; the cases "
                        f"below are from the first run")
    if m.get("n_faults"):
        lines.append(f"harness faults (left out of every metric): {m['n_faults']}")
    if rec.reference_faults:
        lines.append(f"references scored: {rec.n_references} of {rec.n_references_given}")
    for key, groups in (m.get("by") or {}).items():
        lines.append(f"IoU (all) by {key}: " + ", ".join(
            f"{value} {cell('iou_all_mean', (key, value), g.get('iou_all_mean'))} "
            f"(n={g.get('n')})" for value, g in sorted(groups.items())))
    return title, lines, rec.status_counts


def make_report(run_dir: Path, n_cases: int = 24, references: str | None = None,
                predictions: str | None = None, out: Path | None = None,
                progress: bool = True, samples: list | None = None,
                more: list[Path] | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `report.png` (into `out`, default the run folder).

    The inputs and ground truth come from `samples` when given, else from `references`, else
    from the dataset named in the run folder's run.json. `more`: run folders of repeats of
    this run (other seeds): the headline is then mean ± std over all of them; the charts and
    cases are this run's. A `--repeats` folder (its combined record) reports its first run's
    cases under the combined headline.
    """
    run_dir = home = Path(run_dir)
    more = [Path(d) for d in more or []]
    for d in [run_dir, *more]:
        if not d.is_dir():
            raise InputError(f"{d}: no such run folder")
    if not more and not (run_dir / "results.jsonl").exists() and repeat_folders(run_dir):
        run_dir = repeat_folders(home)[0]     # the headline stays the combined record's
    results = load_results(run_dir / "results.jsonl")
    if not results:
        raise InputError(f"{run_dir}: no results.jsonl (score the run first)")
    title, lines, _ = headline(home, more)
    counts = read_record(run_dir).status_counts   # the charts are of this one run
    first = [r for r in results if r.candidate == 0]
    ious = [float(r.metrics["iou"]) for r in first
            if r.status == "ok" and r.metrics.get("iou") is not None]
    hist = iou_histogram(ious, len(first) - len(ious))
    status = status_chart(counts)
    by_id, codes = read_run_inputs(run_dir, None if samples else references, predictions,
                                   load=samples is None)
    if samples is not None:
        by_id = {s.id: s for s in samples}
    cases = prepare_cases(pick_cases(results, n_cases), by_id, codes, _result_var(run_dir),
                          progress)
    out = Path(out) if out else home
    out.mkdir(parents=True, exist_ok=True)
    html_path, png_path = out / "report.html", out / "report.png"
    html_path.write_text(render_html(title, lines, hist, status, cases), encoding="utf-8")
    summary_png(title, lines, hist, status, cases).save(png_path, optimize=True)
    return html_path, png_path
