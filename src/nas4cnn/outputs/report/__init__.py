"""A run's report: one self-contained HTML page that opens offline.

The page has inline CSS, its plots as base64 PNG data URIs, no scripts and no external
resources. `rundata` reads the run (its store, else summary.json and evaluations.jsonl),
`sections` builds each part of the page, `html` holds the building blocks and the template,
and `page` puts them together and writes the file.
"""

from nas4cnn.outputs.report.page import REPORT, render, report
from nas4cnn.outputs.report.rundata import class_names, load, networks, status

__all__ = ["REPORT", "class_names", "load", "networks", "render", "report", "status"]
