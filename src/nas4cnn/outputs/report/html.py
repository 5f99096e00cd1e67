"""The report's HTML building blocks: escaping, tables, figures, value formatting, and the
page's stylesheet and template. Nothing here knows what a run is."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Sequence

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def escape(text) -> str:
    return html.escape(str(text), quote=True)


def section(heading: str, content: str) -> str:
    """A titled section, its id the heading's first word in lower case."""
    anchor = heading.lower().split()[0]
    return f'<section id="{escape(anchor)}"><h2>{escape(heading)}</h2>\n{content}\n</section>'


def kv_table(items: Sequence[tuple[str, str]], cls: str = "", caption: str | None = None) -> str:
    """A two-column table of (name, value) rows."""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    body = "".join(f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in items)
    return f'<table class="kv {escape(cls)}">{cap}<tbody>{body}</tbody></table>'


def table(head: Sequence[str], rows: Sequence[Sequence[str]], num: Sequence[int] = (), cls: str = "") -> str:
    """A grid with a header row; the columns numbered in `num` are right-aligned numbers."""
    def cell(tag: str, j: int, v: str) -> str:
        return f'<{tag} class="num">{escape(v)}</{tag}>' if j in num else f"<{tag}>{escape(v)}</{tag}>"

    thead = "<tr>" + "".join(cell("th", j, h) for j, h in enumerate(head)) + "</tr>"
    body = "".join("<tr>" + "".join(cell("td", j, v) for j, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="grid {escape(cls)}"><thead>{thead}</thead><tbody>{body}</tbody></table>'


def png_figure(png: bytes, caption: str) -> str:
    """A PNG embedded as a data URI, with its caption (also its alternative text)."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def figure(plot: Callable, args: tuple, caption: str) -> str:
    """`plot(*args, file)` drawn into memory and embedded."""
    buf = io.BytesIO()
    plot(*args, buf)
    return png_figure(buf.getvalue(), caption)


def get(d, *keys):
    """d[k1][k2]...; None where a level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def num(x, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if finite(x) else "—"


def integer(x) -> str:
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else "—"


def secs(x) -> str:
    return f"{x:,.1f} s" if finite(x) else "—"


def genotype(g) -> str:
    return ",".join(map(str, g)) if isinstance(g, (list, tuple)) else "—"


def value(v) -> str:
    """A config or record value as text."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return "—" if v is None else str(v)


CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d232a; background: #fff; margin: 0 auto; max-width: 1100px; padding: 24px 32px 48px; }
h1 { font-size: 1.6em; margin: 0 0 16px; border-bottom: 3px solid #2f6db5; padding-bottom: 8px; }
h2 { font-size: 1.25em; margin: 32px 0 10px; color: #2f6db5; }
h3 { font-size: 1.05em; margin: 18px 0 8px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.93em; }
th, td { border: 1px solid #d6dbe1; padding: 4px 10px; text-align: left; vertical-align: top; }
thead th { background: #eef2f7; }
table.kv th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.grid tbody tr:nth-child(even) { background: #fafbfc; }
table.top td:nth-child(2), table.overview td, table.config td { font-family: ui-monospace, "DejaVu Sans Mono",
       monospace; font-size: 0.95em; }
caption { text-align: left; font-weight: 600; padding: 2px 0 4px; font-family: ui-monospace,
       "DejaVu Sans Mono", monospace; }
div.cols { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ec; }
figcaption { color: #5a6572; font-size: 0.9em; margin-top: 4px; }
p.note { background: #fff6e0; border-left: 4px solid #e0a100; padding: 8px 12px; }
details summary { cursor: pointer; color: #2f6db5; margin: 4px 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; background: #f2f4f7; padding: 1px 4px; }
footer { margin-top: 40px; color: #8a949e; font-size: 0.85em; border-top: 1px solid #e3e7ec; padding-top: 8px; }
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
<footer>{foot}</footer>
</body>
</html>
"""
