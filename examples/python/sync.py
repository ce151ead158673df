"""Incremental sync of key results: ``python sync.py --state state.json``.

Reads OKR_API_KEY (and OKR_API_URL, default http://127.0.0.1:8000) from the environment and
prints one summary line, e.g. ``synced 12 key results (3 pages, 0 retries after 429)``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from okr_client import DEFAULT_BASE_URL, OkrHubClient, sync_key_results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path("okr-sync-state.json"))
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    base_url = os.environ.get("OKR_API_URL", DEFAULT_BASE_URL)
    with OkrHubClient(os.environ["OKR_API_KEY"], base_url) as client:
        changed = sync_key_results(client, args.state, page_size=args.page_size)
        for kr in changed:
            print(f"{kr['id']}\t{kr['health']}\t{kr['progress']:.2f}\t{kr['title']}")
        history = sum(1 for kr in changed[:1] for _ in client.check_ins(kr["id"]))
        print(
            f"synced {len(changed)} key results ({client.pages_fetched} pages, "
            f"{client.retries_after_429} retries after 429, {history} check-ins of the first)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
