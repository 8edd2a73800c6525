#!/usr/bin/env bash
# Check a cadbench HTML report in a real headless browser (Debian's chromium):
# the page loads with no console or page errors and every image decodes.
#   benchmarks/check_report_in_browser.sh RUN_DIR [SCREENSHOT.png]
# Needs chromium (apt-get install -y chromium). Makes the report first if it is missing.
set -euo pipefail
run_dir=${1:?usage: $0 RUN_DIR [SCREENSHOT.png]}
shot=${2:-$run_dir/report_screenshot.png}
if [ ! -f "$run_dir/report.html" ]; then
  cadbench report "$run_dir"
fi
python -m cadbench.report_browser "$run_dir/report.html" --screenshot "$shot"
echo "screenshot: $shot"
