"""mtbench leaderboard --site: a self-contained, deterministic static site whose tables hold the cells of
mtbench table (display_frame), with numeric sort values, filters, Pareto plots and one page per committed run."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from _records import site_record, site_results
from _scripts import load_script

from mtbench.cli import main
from mtbench.errors import MtbenchError
from mtbench.reporting.leaderboard import CI_HIGH, CI_LOW, build_frame, display_frame
from mtbench.reporting.page import committed_records, with_seeds_needed
from mtbench.reporting.results import save_record
from mtbench.reporting.site import check_site, write_site


@pytest.fixture
def results(tmp_path):
    """nyud: single-task baselines, mtl (with a learning curve on seed 0) and padnet; synthetic: baselines and mtl;
    two seeds each. Plus a floor record and a local/ run, neither of which is on the site (``site_results``)."""
    return site_results(tmp_path / "results")


class Parsed(HTMLParser):
    """Tables of class 'board' (header texts; rows as lists of (text, attrs)), every img src / a href, all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.links: list[str] = []
        self.cell: list | None = None
        self.in_board = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("class") == "board":
            self.in_board = True
            self.tables.append({"id": a["id"], "head": [], "rows": []})
        elif self.in_board and tag == "tr" and self.tables[-1]["head"]:
            self.tables[-1]["rows"].append((a, []))
        elif self.in_board and tag in ("th", "td"):
            self.cell = [tag, "", {**a, "link titles": []}]
        if tag == "img":
            self.links.append(a["src"])
        if tag == "a":
            self.links.append(a["href"])
            if self.cell is not None:
                self.cell[2]["link titles"].append(a.get("title"))

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_board = False
        if self.cell is not None and tag == self.cell[0]:
            kind, text, attrs = self.cell
            t = self.tables[-1]
            if kind == "th":
                t["head"].append(text)
            else:
                t["rows"][-1][1].append((text, attrs))
            self.cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell[1] += data


def _parse(path: Path) -> Parsed:
    p = Parsed()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_index_tables_hold_the_cells_of_mtbench_table(results, tmp_path):
    site = tmp_path / "site"
    write_site(results, site)
    page = _parse(site / "index.html")
    assert [t["id"] for t in page.tables] == ["board-synthetic", "board-nyud"]
    records = committed_records(results)
    for table, ds in zip(page.tables, ("synthetic", "nyud")):
        df = with_seeds_needed(build_frame(records, dataset=ds))
        shown, _ = display_frame(df, bold="{}")
        assert table["head"] == [*shown.columns, "Runs"]
        assert "Model" in table["head"] and "Δm (%) ↑" in table["head"] and "Seeds" in table["head"]
        assert [[c[0] for c in cells[:-1]] for _, cells in table["rows"]] == shown.values.tolist()
        numeric = {c.name for c in df.attrs["columns"]}
        for (row_attrs, cells), i in zip(table["rows"], df.index):
            assert row_attrs["data-backbone"] == df.at[i, "Backbone"] and row_attrs["data-source"] == "measured"
            for col, (_, attrs) in zip(shown.columns, cells):
                if col in numeric:
                    v = df.at[i, col]
                    assert (attrs["data-sort"] == "") if v != v else float(attrs["data-sort"]) == v
                    low = df.at[i, f"{col} {CI_LOW}"] if f"{col} {CI_LOW}" in df else float("nan")
                    if low == low:  # an interval (metrics and Δm of two seeds)
                        assert float(attrs["data-ci-low"]) == df.at[i, f"{col} {CI_LOW}"]
                        assert float(attrs["data-ci-high"]) == df.at[i, f"{col} {CI_HIGH}"]
            # the Runs cell links every record of the row: its id as the link's title, its seed (after its task
            # for a single-task record) as the text
            text, attrs = cells[-1]
            assert attrs["link titles"] == sorted(df.at[i, "Record ids"].split())
            by_id = {r.id: r for r in records}
            labels = [
                (f"{by_id[x].tasks[0]} " if by_id[x].model == "single_task" else "") + f"s{by_id[x].seed}"
                for x in attrs["link titles"]
            ]
            assert text == " ".join(labels)
    # two seeds per row: intervals, the ▲ of mtl on nyud, bold best in the markup
    nyud = page.tables[1]
    mtl = next(cells for _, cells in nyud["rows"] if cells[0][0] == "mtl")
    assert " ± " in mtl[2][0] and "▲" in " ".join(c[0] for c in mtl)
    assert "<b>" in (site / "index.html").read_text(encoding="utf-8")
    # the filters: one select per backbone and source, and the script that sorts/filters
    text = (site / "index.html").read_text(encoding="utf-8")
    assert text.count('data-filter="backbone"') == 2 and text.count('data-filter="source"') == 2
    assert "addEventListener" in text and "<script src" not in text and "<link" not in text
    # the floor and the local run appear nowhere
    assert "floor" not in text and "local-0" not in text and "constant" not in text


def test_links_pages_and_no_external_urls(results, tmp_path):
    site = tmp_path / "site"
    write_site(results, site)
    files = _tree(site)
    ids = sorted(r.id for r in committed_records(results) if not r.is_floor)
    assert "nyud-floor-0" not in ids and "nyud-local-0" not in ids
    assert sorted(f for f in files if f.startswith("runs/")) == [f"runs/{i}.html" for i in ids]
    assert {"img/pareto_nyud.png", "img/pareto_synthetic.png", "img/curve_nyud-mtl-0.png"} <= set(files)
    assert not any("curve" in f for f in files if f != "img/curve_nyud-mtl-0.png" and f.startswith("img/"))
    for rel, data in files.items():
        assert not re.search(rb"https?://", data), rel
        if rel.endswith(".html"):
            for link in _parse(site / rel).links:
                target = (site / rel).parent / unquote(link)
                assert target.resolve().is_relative_to(site.resolve()) and target.is_file(), (rel, link)
    run = _parse(site / "runs" / "nyud-mtl-0.html")
    body = "".join(run.text)
    assert "Run nyud-mtl-0" in body and "train.lr" in body and "0.001" in body and "data.n_train" in body
    assert "semseg mIoU" in body and f"{30.0 * 1.05:.6g}" in body  # primary metric
    assert "12.5" not in body and "9" in body and "total" in body and "15.5" in body  # cost (mtl's GMACs), timings
    assert "../img/curve_nyud-mtl-0.png" in run.links
    assert "No prediction grid attached" in (site / "runs" / "nyud-mtl-0.html").read_text(encoding="utf-8")
    assert "No learning curve recorded" in (site / "runs" / "nyud-mtl-1.html").read_text(encoding="utf-8")


def test_same_records_same_bytes(results, tmp_path):
    write_site(results, tmp_path / "a")
    write_site(results, tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert list(a) == list(b)
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    write_site(results, tmp_path / "a")  # regenerating in place changes nothing either
    assert _tree(tmp_path / "a") == a


def test_cli_site_and_check(results, tmp_path, capsys):
    site = tmp_path / "site"
    main(["leaderboard", "--results", str(results), "--site", str(site)])
    assert (site / "index.html").is_file() and not (results / "LEADERBOARD.md").exists()
    capsys.readouterr()
    main(["leaderboard", "--results", str(results), "--site", str(site), "--check"])
    assert "up to date" in capsys.readouterr().out
    # a record changes: the check fails with one line naming the first stale file
    save_record(site_record("nyud-padnet-1", "padnet", 1, 35.0, 0.6), results)
    with pytest.raises(SystemExit) as e:
        main(["leaderboard", "--results", str(results), "--site", str(site), "--check"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{site / 'index.html'}: stale" in err
    # regenerated, it passes again; a deleted record's page is removed
    (results / "nyud" / "padnet" / "nyud-padnet-1.json").unlink()
    main(["leaderboard", "--results", str(results), "--site", str(site)])
    assert not (site / "runs" / "nyud-padnet-1.html").exists()
    main(["leaderboard", "--results", str(results), "--site", str(site), "--check"])


def test_attached_prediction_grid_is_on_the_run_page(results, tmp_path):
    """A record's <id>.show.png (mtbench show RECORD --attach) is copied byte for byte into the site and shown on
    that run's page only; changing it makes the site stale."""
    grid = results / "nyud" / "mtl" / "nyud-mtl-1.show.png"
    grid.write_bytes(b"\x89PNG\r\n\x1a\n grid of nyud-mtl-1")
    site = tmp_path / "site"
    write_site(results, site)
    assert (site / "img" / "show_nyud-mtl-1.png").read_bytes() == grid.read_bytes()
    assert "../img/show_nyud-mtl-1.png" in _parse(site / "runs" / "nyud-mtl-1.html").links
    assert not any("show_" in link for link in _parse(site / "runs" / "nyud-mtl-0.html").links)
    check_site(results, site)
    grid.write_bytes(b"\x89PNG\r\n\x1a\n another grid")
    with pytest.raises(MtbenchError, match="show_nyud-mtl-1.png: stale"):
        check_site(results, site)
    grid.unlink()
    write_site(results, site)
    assert not (site / "img" / "show_nyud-mtl-1.png").exists()


def test_screenshot_script_errors_in_one_line(tmp_path, monkeypatch, capsys):
    """scripts/site_screenshot.py (the picture itself is taken in test_site_browser.py): a missing site or a
    missing Chromium is one line saying what to do, exit 1, no file written."""
    script = load_script("site_screenshot.py")
    out = tmp_path / "shot.png"

    def error(site: Path) -> str:
        with pytest.raises(SystemExit) as e:
            script.main([str(site), str(out)])
        err = capsys.readouterr().err
        assert e.value.code == 1 and len(err.splitlines()) == 1 and err.startswith("error: "), err
        assert not out.exists()
        return err

    assert "nosite/index.html: missing; generate the site with 'mtbench leaderboard" in error(tmp_path / "nosite")
    (tmp_path / "index.html").write_text("<p>site</p>", encoding="utf-8")
    monkeypatch.setenv("MTBENCH_CHROMIUM", str(tmp_path / "no-such-chromium"))
    err = error(tmp_path)
    assert "make browser" in err
    assert "no-such-chromium is not an executable" in err or "playwright is not installed" in err
