"""From an integration row to a connector: decrypt the credentials, pick the vendor client.

Credentials (``okr_core.secrets.CredentialCipher``; decrypted only here, never logged):

- jira, ``api_token``: ``{"email"?, "api_token"}``; ``Integration.account`` holds the
  Atlassian account email and is used when the JSON has none;
- jira, ``oauth_token``: ``{"access_token"}`` (base URL ``https://api.atlassian.com/ex/jira/<id>``);
- github, ``token`` or ``app_installation``: ``{"token"}``; ``account`` names the user or
  organisation and is informational.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okr_core.models import AuthKind, Integration, Source
from okr_core.secrets import CredentialCipher
from okr_core.sources.base import SourceConnector
from okr_core.sources.errors import PermanentSourceError
from okr_core.sources.github.client import GitHubConnector
from okr_core.sources.jira.client import JiraConnector
from okr_core.sources.retry import Retrier, RetryPolicy

SUPPORTED_SOURCES = (Source.jira, Source.github)


def connector_for(
    integration: Integration,
    cipher: CredentialCipher,
    *,
    retry: RetryPolicy | Retrier | None = None,
    site_info: Mapping[str, Any] | None = None,
) -> SourceConnector:
    """The connector for ``integration``; ``retry`` is a policy or a shared :class:`Retrier`.

    ``site_info``: a Jira site's stored serverInfo answer (``Integration.site_info``), which
    the connector may trust instead of asking again. Only syncs pass it; previews and
    connection tests read the site's serverInfo afresh.
    """
    retrier = retry if isinstance(retry, Retrier) else Retrier(policy=retry or RetryPolicy())
    credentials = cipher.decrypt(integration.credentials_ciphertext)
    source = Source(integration.source)
    if source is Source.jira:
        return jira_connector(integration, credentials, retrier, site_info=site_info)
    if source is Source.github:
        token = _text(credentials, "token")
        if token is None:
            raise PermanentSourceError("the GitHub integration has no token; enter the token again")
        return GitHubConnector(
            base_url=integration.base_url,
            token=token,
            account=integration.account or "",
            installation=AuthKind(integration.auth_kind) is AuthKind.app_installation,
            integration_id=str(integration.id),
            retrier=retrier,
        )
    raise PermanentSourceError(f"{source.value} integrations cannot be synced yet")


def jira_connector(
    integration: Integration,
    credentials: dict[str, Any],
    retrier: Retrier,
    *,
    site_info: Mapping[str, Any] | None = None,
) -> JiraConnector:
    kind = AuthKind(integration.auth_kind)
    if kind is AuthKind.oauth_token or (
        _text(credentials, "access_token") and not _text(credentials, "api_token")
    ):
        token = _text(credentials, "access_token")
        if token is None:
            raise PermanentSourceError(
                "the Jira integration has no OAuth access token; enter it again"
            )
        return JiraConnector(
            base_url=integration.base_url,
            access_token=token,
            integration_id=str(integration.id),
            retrier=retrier,
            site_info=site_info,
        )
    email = _text(credentials, "email") or (integration.account or None)
    api_token = _text(credentials, "api_token")
    if not email or not api_token:
        raise PermanentSourceError(
            "the Jira integration needs the account email and an API token; enter them again"
        )
    return JiraConnector(
        base_url=integration.base_url,
        email=email,
        api_token=api_token,
        integration_id=str(integration.id),
        retrier=retrier,
        site_info=site_info,
    )


def _text(credentials: dict[str, Any], key: str) -> str | None:
    value = credentials.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None
