"""A static leaderboard site (``mtbench leaderboard --site DIR``): ``index.html`` with one sortable, filterable table
per dataset (the cells of ``mtbench table``, from :func:`build_frame` / :func:`display_frame`) and its Pareto plot,
and one page per committed record (``runs/<id>.html``: config, cost, timings, primary metrics, learning curve).

Self-contained (no server, no CDN: the CSS and the small sort/filter script are inline, images are files in DIR)
and deterministic: the same records give the same bytes (no timestamps, sorted iteration, PNGs without the
matplotlib version in their metadata)."""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from mtbench.errors import MtbenchError
from mtbench.reporting.budget import benchmark_choice, budget_frame, budget_plot, verdicts
from mtbench.reporting.delta_m import primary_metric
from mtbench.reporting.leaderboard import CI_HIGH, CI_LOW, build_frame, display_frame
from mtbench.reporting.page import DATASET_ORDER, chosen_benchmark, committed_records, study_records, with_seeds_needed
from mtbench.reporting.results import RunRecord, atomic_write_bytes, atomic_write_text
from mtbench.reporting.show import grid_path

RUNS_DIR, IMG_DIR = "runs", "img"

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
table.board th{cursor:pointer;background:#f3f3f3}
table.board th[data-dir=asc]::after{content:" \\25B2"}
table.board th[data-dir=desc]::after{content:" \\25BC"}
td.num{text-align:right;white-space:nowrap}
pre{background:#f6f6f6;padding:0.5em;overflow:auto}
img{max-width:100%}
"""

# Sort on click (numeric columns by data-sort, missing values last; a second click reverses) and filter rows by
# the select boxes (data-filter names the row attribute, data-table the table), also by the choices a browser
# restores when the page is shown again. Written for this site.
SCRIPT = """(function () {
  function value(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-sort");
    if (numeric) {
      return v === null || v === "" ? null : parseFloat(v);
    }
    return v === null ? cell.textContent : v;
  }
  function sortBy(table, th, col) {
    var heads = table.tHead.rows[0].cells;
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    for (var h = 0; h < heads.length; h++) {
      heads[h].removeAttribute("data-dir");
    }
    th.setAttribute("data-dir", dir);
    var numeric = th.hasAttribute("data-numeric");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "asc" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = value(a, col, numeric), y = value(b, col, numeric);
      var c = 0;
      if (x === null || y === null || (numeric && (isNaN(x) || isNaN(y)))) {
        var mx = x === null || isNaN(x), my = y === null || isNaN(y);
        c = mx === my ? 0 : (mx ? 1 : -1);
        if (c !== 0) {
          return c;
        }
      } else if (numeric) {
        c = sign * (x - y);
      } else {
        c = sign * String(x).localeCompare(String(y));
      }
      return c !== 0 ? c : parseInt(a.getAttribute("data-i"), 10) - parseInt(b.getAttribute("data-i"), 10);
    });
    for (var i = 0; i < rows.length; i++) {
      body.appendChild(rows[i]);
    }
  }
  function filter(table) {
    var boxes = document.querySelectorAll("select[data-table='" + table.id + "']");
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var shown = true;
      for (var j = 0; j < boxes.length; j++) {
        var want = boxes[j].value;
        if (want !== "" && rows[i].getAttribute("data-" + boxes[j].getAttribute("data-filter")) !== want) {
          shown = false;
        }
      }
      rows[i].style.display = shown ? "" : "none";
    }
  }
  var tables = document.querySelectorAll("table.board");
  for (var t = 0; t < tables.length; t++) {
    (function (table) {
      var heads = table.tHead.rows[0].cells;
      for (var c = 0; c < heads.length; c++) {
        (function (th, col) {
          th.addEventListener("click", function () { sortBy(table, th, col); });
        })(heads[c], c);
      }
    })(tables[t]);
  }
  var boxes = document.querySelectorAll("select[data-table]");
  for (var b = 0; b < boxes.length; b++) {
    boxes[b].addEventListener("change", function () {
      filter(document.getElementById(this.getAttribute("data-table")));
    });
  }
  // A browser restores the select boxes' choices when the page is shown again (Back from a run page, reload)
  // without a change event: apply them to the rows now and whenever the page is shown.
  function filterAll() {
    for (var t = 0; t < tables.length; t++) {
      filter(tables[t]);
    }
  }
  filterAll();
  window.addEventListener("pageshow", filterAll);
})();
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any) -> str:
    """A sortable value as a data attribute: repr of the float, "" when missing."""
    if v is None or v is pd.NA:
        return ""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    return repr(x) if math.isfinite(x) else ""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def run_href(record_id: str) -> str:
    """The run page of a record, relative to DIR."""
    return f"{RUNS_DIR}/{quote(record_id, safe='')}.html"


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


def _datasets(rows: Sequence[RunRecord]) -> list[str]:
    return sorted(
        {r.dataset for r in rows},
        key=lambda d: (DATASET_ORDER.index(d) if d in DATASET_ORDER else len(DATASET_ORDER), d),
    )


NUMERIC_EXTRA = ("Seeds",)


def run_label(r: RunRecord) -> str:
    """A run's short link text in the table's Runs column: its seed (``s0``), after its tasks for a single-task
    record (``semseg s0``); the full id is the link's title."""
    seed = "run" if r.seed is None else f"s{r.seed}"
    return f"{'+'.join(r.tasks)} {seed}" if r.model == "single_task" else seed


def board_table(df: pd.DataFrame, table_id: str, pages: dict[str, str]) -> str:
    """One dataset's table: the cells of :func:`display_frame` (HTML-escaped, best values bold), each numeric
    cell with ``data-sort`` (its mean) and, where known, ``data-ci-low`` / ``data-ci-high``; a last column links
    the row's run pages (``pages``: record id -> link text). Rows carry ``data-backbone`` and ``data-source`` for
    the filters."""
    shown, foot = display_frame(df, bold="<b>{}</b>", escape=html.escape)
    numeric = {c.name for c in df.attrs["columns"]} | set(NUMERIC_EXTRA) | set(df.attrs.get("power", []))
    head = (
        "".join(f"<th{' data-numeric' if c in numeric else ''}>{_e(c)}</th>" for c in shown.columns) + "<th>Runs</th>"
    )
    lines = [f'<table class="board" id="{table_id}">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for n, i in enumerate(shown.index):
        cells = []
        for c in shown.columns:
            text = str(shown.at[i, c])  # display_frame cells are strings
            if c in numeric:
                attrs = f' class="num" data-sort="{_num(df.at[i, c])}"'
                for suffix, name in ((CI_LOW, "ci-low"), (CI_HIGH, "ci-high")):
                    if f"{c} {suffix}" in df and _num(df.at[i, f"{c} {suffix}"]):
                        attrs += f' data-{name}="{_num(df.at[i, f"{c} {suffix}"])}"'
                cells.append(f"<td{attrs}>{text}</td>")
            else:
                cells.append(f"<td>{text}</td>")
        ids = [x for x in str(df.at[i, "Record ids"]).split() if x in pages]
        links = " ".join(f'<a href="{_e(run_href(x))}" title="{_e(x)}">{_e(pages[x])}</a>' for x in ids)
        cells.append(f"<td>{links}</td>")
        lines.append(
            f'<tr data-i="{n}" data-backbone="{_e(df.at[i, "Backbone"])}" data-source="{_e(df.at[i, "Source"])}">'
            + "".join(cells)
            + "</tr>"
        )
    lines.append("</tbody>\n</table>")
    if foot:
        lines.append("<ol>\n" + "".join(f"<li>{f}</li>\n" for f in foot) + "</ol>")
    return "\n".join(lines) + "\n"


def _inline(md: str) -> str:
    """HTML of one line of the page's markdown: escaped, ``**bold**`` and backtick code kept."""
    text = _e(md)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def budget_html(records: Sequence[RunRecord], dataset: str, out: Path) -> tuple[str, list[Path]]:
    """The budget study of the page (LEADERBOARD.md) for the site: the plot, the verdicts, how the benchmark is
    chosen and the chosen benchmark's table; ("", []) with fewer than two budgets."""
    frame = budget_frame(records, dataset)
    if frame.empty or frame["Iterations"].nunique() < 2:
        return "", []
    png = f"{IMG_DIR}/budget_{_slug(dataset)}.png"
    written = [budget_plot(frame, dataset, out / png)]
    parts = [
        f"<h3>{_e(dataset)}: Δm against the training budget</h3>",
        "<p>Budget study (<code>mtbench sweep --preset budget-&lt;iterations&gt;</code>, records under "
        "<code>results/budget/</code>; each budget paired with single-task baselines trained on the same budget and "
        "seeds). Δm with its 95 % interval [low, high]:</p>",
        "<ul>",
        *[f"<li>{_inline(v)}</li>" for v in verdicts(frame)],
        "</ul>",
        f'<p><img src="{png}" alt="Δm against the training budget on {_e(dataset)}"></p>',
    ]
    choice = benchmark_choice(records, dataset)
    if choice is not None:
        parts.append(f"<h4>{_e(choice.heading)}</h4>")
        for t in choice.tables:
            parts += [f"<p>{_inline(t.caption)}</p>", '<table class="plain">']
            parts.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in t.header) + "</tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in t.rows]
            parts.append("</tbody></table>")
        parts += [f"<p>{_inline(x)}</p>" for x in choice.sentences]
    chosen = chosen_benchmark(records, dataset)
    if chosen is not None:
        parts += [
            f"<h4>The chosen benchmark: {chosen.budget} iterations</h4>",
            f"<p>{_inline(chosen.intro)}</p>",
            board_table(chosen.table, f"board-{_slug(dataset)}-chosen", {}),
        ]
    return "\n".join(parts) + "\n", written


def _select(table_id: str, key: str, label: str, values: Sequence[str]) -> str:
    opts = '<option value="">all</option>' + "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
    return f'<label>{label} <select data-table="{table_id}" data-filter="{key}">{opts}</select></label>'


def _kv_table(rows: Sequence[tuple[str, Any]], head: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>\n" for k, v in rows)
    return f"<table>\n<thead><tr><th>{head[0]}</th><th>{head[1]}</th></tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _flat(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict) and d:
        return [kv for k in sorted(d, key=str) for kv in _flat(d[k], f"{prefix}{k}.")]
    return [(prefix.rstrip("."), json.dumps(d, sort_keys=True, default=str))]


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def record_grid(r: RunRecord) -> Path | None:
    """The prediction grid attached to a record (``<id>.show.png`` beside its JSON), or None."""
    if r.path is None:
        return None
    grid = grid_path(r.path)
    return grid if grid.is_file() else None


def run_page(r: RunRecord, curve_img: str | None, grid_img: str | None = None) -> str:
    """A record's page: identity, primary metrics, cost, timings, learning curve, prediction grid, config."""
    from mtbench.registry import get_task

    ident = [
        ("id", r.id),
        ("model", r.model),
        ("backbone", r.backbone),
        ("dataset", r.dataset),
        ("split", r.split),
        ("tasks", ", ".join(r.tasks)),
        ("aux tasks", ", ".join(r.aux_tasks) or "—"),
        ("seed", _fmt(r.seed)),
        ("status", r.status),
        ("source", r.source),
        ("citation", r.citation or "—"),
        ("config hash", r.config_hash or "—"),
        ("created", r.created),
    ]
    metrics = []
    for t in r.tasks:
        try:
            spec = get_task(t).primary_spec
            name = f"{t} {spec.name}" + (f" ({spec.unit})" if spec.unit else "") + f" {spec.arrow}"
        except MtbenchError:
            name = t
        metrics.append((name, _fmt(primary_metric(r, t))))
    c = r.cost
    cost = [
        ("params (M)", _fmt(c.params / 1e6 if c.params is not None else None)),
        ("GMACs", _fmt(c.gmacs)),
        ("input size", "×".join(map(str, c.input_size)) if c.input_size else "—"),
        ("peak memory (MiB)", _fmt(c.peak_mem_mb)),
        ("memory kind", _fmt(c.mem_kind)),
        ("latency (ms)", _fmt(c.latency_ms)),
        ("device", _fmt(c.device)),
    ]
    cost += [(f"unsupported op {op}", str(n)) for op, n in sorted(c.unsupported_ops.items())]
    timings = [(k, f"{v:.1f}") for k, v in sorted(r.timings.items())]
    parts = [
        '<p><a href="../index.html">← leaderboard</a></p>',
        f"<h1>Run {_e(r.id)}</h1>",
        _kv_table(ident, ("field", "value")),
        "<h2>Primary metrics</h2>",
        _kv_table(metrics, ("metric", "value")),
        "<h2>Cost</h2>",
        _kv_table(cost, ("cost", "value")),
        "<h2>Timings</h2>",
        _kv_table(timings, ("phase", "seconds")) if timings else "<p>No timings recorded.</p>",
        "<h2>Learning curve</h2>",
        f'<img src="{_e(curve_img)}" alt="learning curve of {_e(r.id)}">'
        if curve_img
        else "<p>No learning curve recorded (a run records one with eval.every_iters &gt; 0).</p>",
        "<h2>Predictions</h2>",
        f'<img src="{_e(grid_img)}" alt="predictions of {_e(r.id)} (mtbench show)">'
        if grid_img
        else "<p>No prediction grid attached to this record (where the run's checkpoint exists, "
        "<code>mtbench show &lt;record json&gt; --attach</code> makes one).</p>",
        "<h2>Config</h2>",
        _kv_table(_flat(r.config), ("key", "value")) if r.config else "<p>No config stored.</p>",
    ]
    if r.notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in r.notes) + "</ul>"]
    return _page(f"mtbench run {r.id}", "\n".join(parts) + "\n")


def generate(results: Path | str, out: Path | str) -> list[Path]:
    """Write the site of the committed records under ``results`` into ``out`` (each file atomically); returns
    the files written, sorted."""
    from mtbench.reporting.plots import curves_figure, pareto_plot, save_figure

    out = Path(out)
    records = sorted((r for r in committed_records(results) if not r.is_floor), key=lambda r: r.id)
    if not records:
        raise MtbenchError(f"{results}: no records to render")
    written: list[Path] = []
    pages = {r.id: run_label(r) for r in records}
    body = [
        "<h1>mtbench leaderboard</h1>",
        "<p>Generated by <code>mtbench leaderboard --site</code> from the committed records (not "
        "<code>local/</code> or <code>budget/</code>). Values are mean ± the half-width of the 95 % interval "
        "(Student t over seeds; [low, high] of a bootstrap over images for one seed); bold: the best value per "
        "column and the rows statistically tied with it; ▲ / ▼: Δm's interval lies above / below 0. Click a "
        "header to sort (again to reverse).</p>",
    ]
    for d in _datasets(records):
        tid = f"board-{_slug(d)}"
        body.append(f'<h2 id="{_e(_slug(d))}">{_e(d)}</h2>')
        try:
            df = with_seeds_needed(build_frame(records, dataset=d))
        except MtbenchError as e:
            body.append(f"<p>{_e(e)}</p>")
            continue
        body.append(
            "<p>"
            + _select(tid, "backbone", "Backbone", sorted(set(map(str, df["Backbone"]))))
            + " "
            + _select(tid, "source", "Source", sorted(set(map(str, df["Source"]))))
            + "</p>"
        )
        body.append(board_table(df, tid, pages))
        if any(r.dataset == d and r.source == "measured" for r in records):
            png = f"{IMG_DIR}/pareto_{_slug(d)}.png"
            try:
                written.append(pareto_plot(results, d, out / png, records=records))
                body.append(f'<p><img src="{png}" alt="Δm vs GMACs on {_e(d)}"></p>')
            except MtbenchError as e:
                body.append(f"<p>No Pareto plot: {_e(e)}</p>")
            study, files = budget_html(study_records(results, d), d, out)
            body.append(study)
            written += files
    body.append("<h2>All runs</h2>\n<ul>")
    body += [
        f'<li><a href="{_e(run_href(r.id))}">{_e(r.id)}</a>: {_e(r.dataset)} {_e(r.model)} seed {_e(_fmt(r.seed))}'
        f" ({_e(r.status)})</li>"
        for r in records
    ]
    body.append("</ul>")
    body.append(f"<script>\n{SCRIPT}</script>")
    index = out / "index.html"
    atomic_write_text(index, _page("mtbench leaderboard", "\n".join(body) + "\n"))
    written.append(index)
    for r in records:
        img = None
        if r.curve is not None and r.curve.points:
            name = f"curve_{quote(r.id, safe='')}.png"
            written.append(save_figure(curves_figure([r]), out / IMG_DIR / name))
            img = f"../{IMG_DIR}/{quote(name, safe='')}"
        grid, grid_img = record_grid(r), None
        if grid is not None:
            name = f"show_{quote(r.id, safe='')}.png"
            atomic_write_bytes(out / IMG_DIR / name, grid.read_bytes())
            written.append(out / IMG_DIR / name)
            grid_img = f"../{IMG_DIR}/{quote(name, safe='')}"
        page = out / RUNS_DIR / f"{r.id}.html"
        atomic_write_text(page, run_page(r, img, grid_img))
        written.append(page)
    return sorted(written)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def write_site(results: Path | str = "results", out: Path | str = "site") -> list[Path]:
    """Generate the site into ``out``; files of an older generation under ``runs/`` and ``img/`` that the records no
    longer make (e.g. a deleted record's page) are removed. Returns the files written."""
    out = Path(out)
    written = generate(results, out)
    keep = {p.relative_to(out).as_posix() for p in written}
    for rel in _files(out):
        if rel.split("/")[0] in (RUNS_DIR, IMG_DIR) and rel not in keep:
            (out / rel).unlink()
    return written


def check_site(results: Path | str = "results", out: Path | str = "site") -> None:
    """Fail (MtbenchError, one line naming the first stale, missing or extra file) when the site in ``out`` differs
    from what the committed records under ``results`` generate."""
    out = Path(out)
    if not (out / "index.html").is_file():
        raise MtbenchError(f"{out / 'index.html'}: missing; generate the site with 'mtbench leaderboard --site {out}'")
    tmp = Path(tempfile.mkdtemp(prefix=".mtbench-site-"))
    try:
        generate(results, tmp)
        want = _files(tmp)
        have = [f for f in _files(out) if f.split("/")[0] in (RUNS_DIR, IMG_DIR) or f == "index.html"]
        # index.html first, then the run pages, then the images: the most telling stale file is named
        order = {"index.html": 0, RUNS_DIR: 1, IMG_DIR: 2}
        for rel in sorted(set(want) | set(have), key=lambda f: (order.get(f.split("/")[0], 3), f)):
            if rel not in have:
                raise MtbenchError(f"{out / rel}: missing; regenerate the site with 'mtbench leaderboard --site {out}'")
            if rel not in want:
                raise MtbenchError(
                    f"{out / rel}: not made from the records in {results}; regenerate the site with "
                    f"'mtbench leaderboard --site {out}'"
                )
            if (tmp / rel).read_bytes() != (out / rel).read_bytes():
                raise MtbenchError(
                    f"{out / rel}: stale with respect to the records in {results}; regenerate it with "
                    f"'mtbench leaderboard --site {out}'"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
