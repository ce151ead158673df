"""``python -m okr_api.cli``: how the demo starts its own API child with this interpreter."""

from okr_api.cli.main import app

app(prog_name="okr-hub")
