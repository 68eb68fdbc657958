"""A full-page PNG screenshot of a static leaderboard site (``mtbench leaderboard --site DIR``), e.g. for the README.

Uses the same headless Chromium as the site's browser test (``mtbench.reporting.browser``: Playwright's Python
package from the dev extra on the system's Chromium, ``make browser``; ``$MTBENCH_CHROMIUM`` names another
executable). Prints one line ``error: ...`` and exits 1 when the site, Playwright or Chromium is missing.

Run: ``python scripts/site_screenshot.py SITE_DIR OUT.png [--width 1280] [--page index.html]``.
"""

from __future__ import annotations

import argparse
import sys

from mtbench.errors import MtbenchError
from mtbench.reporting.browser import screenshot


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", help="The site folder (holds index.html).")
    ap.add_argument("out", help="The PNG to write (its folder is created).")
    ap.add_argument("--width", type=int, default=1280, help="Viewport width in CSS pixels (default 1280).")
    ap.add_argument("--page", default="index.html", help="Page of the site, e.g. runs/<id>.html (default index.html).")
    args = ap.parse_args(argv)
    try:
        out = screenshot(args.site, args.out, width=args.width, page=args.page)
    except MtbenchError as e:  # one line, as the CLI does
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    print(out)


if __name__ == "__main__":
    main()
