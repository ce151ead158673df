"""Resources: the app database, configured exactly as the services configure it.

Nothing here touches the environment or the database when the code location loads. Settings are
read from the ``OKR_*`` variables (``OKR_DATABASE_URL``, ``OKR_DATA_DIR``, ...) when a run or a
sensor tick starts, so the webserver, the daemon and every run worker see the same database as
the API, and a secret in a URL never appears in the Dagster UI as resource config.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings, load_settings


class AppDatabase(ConfigurableResource["AppDatabase"]):
    """The app database and data directory, built lazily from the services' settings.

    Assets and sensors type their parameter as ``AppDatabase`` and open units of work with
    :meth:`session`. The optional fields override single settings (tests, one-off runs); left
    unset, the ``OKR_*`` environment decides.
    """

    data_dir: str | None = Field(
        default=None, description="Overrides OKR_DATA_DIR (embedded SQLite file, warehouse)."
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "Overrides OKR_DATABASE_URL; an empty string means the SQLite file in the data "
            "directory. Prefer the environment variable for URLs that carry a password."
        ),
    )

    _settings: Settings | None = PrivateAttr(default=None)
    _engine: Engine | None = PrivateAttr(default=None)
    _factory: sessionmaker[Session] | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Read settings and build the engine once per run or sensor tick, never at import."""
        overrides: dict[str, object] = {}
        if self.data_dir is not None:
            overrides["data_dir"] = self.data_dir
        if self.database_url is not None:
            overrides["database_url"] = self.database_url
        settings = load_settings(**overrides)
        self._settings = settings
        self._engine = make_engine(settings)
        self._factory = make_session_factory(self._engine)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Close pooled connections so a finished run or tick holds none open."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._factory = None

    @property
    def settings(self) -> Settings:
        """The settings this resource was set up with (data directory, warehouse, ...)."""
        if self._settings is None:
            raise RuntimeError("AppDatabase is used before Dagster set it up")
        return self._settings

    @property
    def factory(self) -> sessionmaker[Session]:
        """The session factory, for code that opens its own units of work (source syncs commit
        once when an attempt starts and once after the landing is durable)."""
        if self._factory is None:
            raise RuntimeError("AppDatabase is used before Dagster set it up")
        return self._factory

    @property
    def cipher(self) -> CredentialCipher:
        """Decrypts integration credentials with the keys from the settings."""
        return CredentialCipher.from_settings(self.settings)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits once on success, rolls back on error."""
        if self._factory is None:
            raise RuntimeError("AppDatabase is used before Dagster set it up")
        with unit_of_work(self._factory) as session:
            yield session
