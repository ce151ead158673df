"""Jinja2 templates shared by the admin UI and the sign-in pages."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from okr_api.auth.csrf import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "admin" / "templates"
STATIC_DIR = Path(__file__).parent / "admin" / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["csrf_token"] = csrf_token
