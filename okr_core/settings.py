"""One settings class for every face of the product (API, Dagster, CLI).

Values come from ``OKR_*`` environment variables. Nothing is read at import time: call
:func:`load_settings` where settings are needed (app lifespan, Dagster resources, CLI).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "local-development-only-secret-key-change-me"  # noqa: S105


class Settings(BaseSettings):
    """Runtime configuration. ``environment=production`` refuses placeholder secrets."""

    model_config = SettingsConfigDict(env_prefix="OKR_", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    data_dir: Path = Field(default=Path("var"), description="Where embedded data lives.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file under data_dir.",
    )
    database_app_role: str = Field(
        default="okr_app",
        description="PostgreSQL login role of the services; it cannot bypass row-level security.",
    )
    database_app_url: str = Field(
        default="",
        description="Services' PostgreSQL URL; empty means database_url with the app role's login.",
    )
    database_app_password: SecretStr | None = None
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    secret_key_previous: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Comma-separated secret keys used before OKR_SECRET_KEY (newest first), kept after "
            "a rotation so API keys digested under them still verify (each is re-digested under "
            "the current secret on first use). Same list convention as OKR_CREDENTIALS_KEYS."
        ),
    )
    credentials_keys: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Comma-separated Fernet keys for credentials at rest; the first encrypts, all "
            "decrypt (rotation). Empty outside production: derived from the secret key."
        ),
    )
    session_max_age_seconds: int = 8 * 60 * 60
    session_cookie_secure: bool = False
    login_failures_allowed: str = Field(
        default="5/5 minutes",
        description="Failed sign-ins allowed per account and per client address (limits syntax).",
    )
    redis_url: str | None = None
    # Public API (issue 4): key prefix environment, rate limits (limits syntax), caches, telemetry.
    api_key_environment: Literal["live", "test"] | None = Field(
        default=None,
        description="okr_live_ or okr_test_ keys; unset means live in production, test elsewhere.",
    )
    public_rate_limit_per_key: str = "600/minute"
    public_rate_limit_per_tenant: str = "3000/minute"
    public_rate_limit_anonymous: str = Field(
        default="60/minute",
        description="Requests without a valid key, per client address.",
    )
    api_key_cache_seconds: float = Field(
        default=2.0,
        ge=0.0,
        le=4.0,
        description="How long a verified key is trusted in memory; revocation reaches every "
        "process within this time plus one request.",
    )
    public_data_version_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=5.0,
        description="How long a tenant's data version (the basis of ETags) is cached in memory.",
    )
    public_page_cache_mb: int = Field(
        default=32,
        ge=0,
        description="Memory per API process for serialised public API pages, keyed by ETag "
        "(0 turns the cache off).",
    )
    public_usage_flush_seconds: float = Field(
        default=5.0,
        gt=0.0,
        description="How often API usage aggregated in memory is written to the database.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that GET /metrics (Prometheus) requires; unset: /metrics is 404.",
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed; empty (default): none, the peer is the client; "
            "* trusts every peer (only when nothing but the proxy can reach the API)."
        ),
    )
    keepalive_max_requests: int = Field(
        default=100,
        ge=0,
        description=(
            "Requests served on one keep-alive connection before the API asks the client to "
            "reconnect (Connection: close), so long-lived connections spread over all workers "
            "(like nginx's keepalive_requests); 0 never closes."
        ),
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        description=(
            "PostgreSQL connections each API or Dagster process keeps open (plus as many again "
            "for bursts); one per request in flight in that process."
        ),
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dagster_host: str = "127.0.0.1"
    dagster_port: int = 3000

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key.get_secret_value() == PLACEHOLDER_SECRET:
                raise ValueError("OKR_SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("OKR_SECRET_KEY must be at least 32 characters in production")
            if not self.credentials_keys.get_secret_value().strip():
                raise ValueError("OKR_CREDENTIALS_KEYS must be set in production")
            if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
                raise ValueError("OKR_METRICS_TOKEN must be at least 16 characters in production")
        return self

    @model_validator(mode="after")
    def _trusted_proxies_are_addresses(self) -> Settings:
        entries = self.trusted_proxy_list
        if "*" in entries and len(entries) > 1:
            raise ValueError("OKR_TRUSTED_PROXIES: * stands alone (it trusts every peer)")
        for entry in entries:
            try:
                if "/" in entry:
                    ipaddress.ip_network(entry)  # strict: 10.0.0.0/8, not 10.0.0.1/8
                elif entry != "*":
                    ipaddress.ip_address(entry)
            except ValueError as exc:
                raise ValueError(
                    f"OKR_TRUSTED_PROXIES: {entry!r} is not an IP address, a CIDR or * ({exc})"
                ) from None
        return self

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies as a list (addresses or CIDRs); empty means none."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def previous_secret_keys(self) -> list[str]:
        """Secrets in use before the current one (newest first), for verifying old digests."""
        current = self.secret_key.get_secret_value()
        values = (v.strip() for v in self.secret_key_previous.get_secret_value().split(","))
        return list(dict.fromkeys(v for v in values if v and v != current))

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside the data directory."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'okr.sqlite3').resolve()}"

    @property
    def resolved_app_database_url(self) -> str:
        """The services' URL: on PostgreSQL the app role, never the owner or a superuser."""
        if self.database_app_url:
            return normalise_database_url(self.database_app_url)
        owner_url = self.resolved_database_url
        if not owner_url.startswith("postgresql"):
            return owner_url
        from sqlalchemy.engine import make_url

        password = (
            self.database_app_password.get_secret_value() if self.database_app_password else None
        )
        url = make_url(owner_url).set(username=self.database_app_role, password=password)
        return url.render_as_string(hide_password=False)

    @property
    def is_postgresql(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")

    @property
    def resolved_api_key_environment(self) -> Literal["live", "test"]:
        if self.api_key_environment is not None:
            return self.api_key_environment
        return "live" if self.environment == "production" else "test"

    @property
    def dagster_home(self) -> Path:
        return (self.data_dir / "dagster").resolve()

    @property
    def warehouse_dir(self) -> Path:
        return (self.data_dir / "warehouse").resolve()


def normalise_database_url(url: str) -> str:
    """Pin bare ``postgresql://`` URLs to psycopg 3 so the driver never depends on defaults."""
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
