#!/usr/bin/env bash
# Write a run's report and a PNG screenshot of the whole page, taken with headless Chromium.
#
#   docs/make_screenshot.sh RUN_DIR [OUT_PNG]      (default OUT_PNG: docs/report.png)
#
# Needs Chromium (Debian: apt-get install chromium). Environment: NAS4CNN (the nas4cnn
# command, default .venv/bin/nas4cnn), PYTHON (a Python with Pillow, default .venv/bin/python),
# CHROMIUM (the browser), WIDTH (page width in pixels, default 1200), HEIGHT (the most page
# height to capture, default 8000; the blank space below the page is cropped off).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 RUN_DIR [OUT_PNG]" >&2
  exit 2
fi
run="$1"
out="${2:-$root/docs/report.png}"
nas4cnn="${NAS4CNN:-$root/.venv/bin/nas4cnn}"
python="${PYTHON:-$root/.venv/bin/python}"
width="${WIDTH:-1200}"
height="${HEIGHT:-8000}"
chromium="${CHROMIUM:-}"
if [ -z "$chromium" ]; then
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then chromium="$name"; break; fi
  done
fi
if [ -z "$chromium" ]; then
  echo "$0: no Chromium found; install it (apt-get install chromium) or set CHROMIUM" >&2
  exit 1
fi

"$nas4cnn" report "$run"
page="$(cd "$run" && pwd)/report.html"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if ! "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars \
     --force-device-scale-factor=1 --window-size="$width,$height" --screenshot="$tmp/full.png" \
     "file://$page" >"$tmp/chromium.log" 2>&1 || [ ! -s "$tmp/full.png" ]; then
  cat "$tmp/chromium.log" >&2
  echo "$0: Chromium did not write a screenshot" >&2
  exit 1
fi

# Crop the empty space below the page, keeping a small margin.
"$python" - "$tmp/full.png" "$out" <<'EOF'
import sys

from PIL import Image, ImageChops

src, dst = sys.argv[1], sys.argv[2]
im = Image.open(src).convert("RGB")
box = ImageChops.difference(im, Image.new("RGB", im.size, im.getpixel((im.width - 1, im.height - 1)))).getbbox()
bottom = min(im.height, (box[3] if box else im.height) + 24)
im.crop((0, 0, im.width, bottom)).save(dst, optimize=True)
print(f"wrote {dst} ({im.width}x{bottom})")
EOF
