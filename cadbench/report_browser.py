"""Check a report in a real headless browser (Debian's chromium): it loads with no console
messages and every image decodes. Used by tests/test_report.py and
benchmarks/check_report_in_browser.sh; needs `apt-get install -y chromium`.

    python -m cadbench.report_browser runs/.../report.html [--screenshot shot.png]
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Injected into a copy of the page: after load, write what the page shows into the DOM so
# `--dump-dom` can read it (the report itself has no script).
_PROBE_HEAD = ("<script>window.__cadbenchErrors=[];window.addEventListener('error',"
               "function(e){window.__cadbenchErrors.push(String(e.message||e.type));},true);"
               "</script>")
_PROBE_TAIL = ("<script>window.addEventListener('load',function(){var imgs=document.images;"
               "var ok=0;for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&"
               "imgs[i].naturalWidth>0)ok++;}var p=document.createElement('pre');"
               "p.id='cadbench-probe';p.textContent=JSON.stringify({images:imgs.length,"
               "loaded:ok,errors:window.__cadbenchErrors,title:document.title});"
               "document.body.appendChild(p);});</script>")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run", "--enable-logging=stderr",
                  "--v=0", "--virtual-time-budget=5000")


@dataclass
class BrowserCheck:
    images: int
    loaded: int
    title: str
    errors: list[str] = field(default_factory=list)    # page errors and console messages

    @property
    def ok(self) -> bool:
        return self.images > 0 and self.loaded == self.images and not self.errors


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_in_browser(html_path: Path, screenshot: Path | None = None,
                     timeout_s: float = 120) -> BrowserCheck:
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("chromium not found (apt-get install -y chromium)")
    text = Path(html_path).read_text(encoding="utf-8")
    probed = text.replace("<head>", "<head>" + _PROBE_HEAD, 1).replace(
        "</body>", _PROBE_TAIL + "</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(probed, encoding="utf-8")
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile"]
        proc = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=timeout_s)
        if screenshot is not None:
            subprocess.run([chromium, *flags, "--window-size=1400,1000",
                            f"--screenshot={Path(screenshot).resolve()}",
                            Path(html_path).resolve().as_uri()],
                           capture_output=True, text=True, timeout=timeout_s)
    m = re.search(r'<pre id="cadbench-probe">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        raise RuntimeError(f"chromium gave no probe result (exit {proc.returncode}): "
                           f"{proc.stderr[-800:]}")
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<")
                       .replace("&gt;", ">").replace("&amp;", "&"))
    console = [line.split("CONSOLE", 1)[1] for line in proc.stderr.splitlines()
               if ":CONSOLE" in line]
    return BrowserCheck(images=probe["images"], loaded=probe["loaded"], title=probe["title"],
                        errors=list(probe["errors"]) + console)


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html")
    p.add_argument("--screenshot", default=None)
    a = p.parse_args(argv)
    res = check_in_browser(Path(a.html), Path(a.screenshot) if a.screenshot else None)
    print(f"{a.html}: title {res.title!r}; images {res.loaded}/{res.images} loaded; "
          f"{len(res.errors)} console/page error(s)")
    for e in res.errors:
        print(f"  error: {e}")
    print("OK" if res.ok else "FAILED")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
