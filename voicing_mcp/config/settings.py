"""The :class:`Settings` model: every ``VOICING_*`` setting with its type, default, description and validator, and
the values resolved from them (the environment in effect, local mode, who confirms, the folders, the ledger).

Over 300 lines: one field, validator and description per setting, kept in one place as the contract is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from voicing_mcp.config.parsing import (
    DEFAULT_QUIET_HOURS,
    MAKE_A_SECRET,
    MIN_SECRET_CHARS,
    CallsPerNumber,
    QuietHours,
    is_loopback_url,
    parse_calls_per_number,
    parse_quiet_hours,
    parse_region,
    secret_problem,
    split_csv,
)
from voicing_mcp.paths import PACKAGE_PROMPTS_DIR, default_campaigns_dir, default_prompts_dir, default_state_dir
from voicing_mcp.redact import redact_dsn, redact_url

Env = Literal["local", "development", "sandbox", "production"]
ConfirmationMode = Literal["human", "token"]
LogLevel = Literal["debug", "info", "warning", "error"]

BASE_URLS: dict[str, str] = {
    "development": "https://api-dev.backend.voicing.ai",
    "sandbox": "https://api.sandbox.voicing.ai",
    "production": "https://api.voicing.ai",
}


TOKEN_MODE_WARNING = (
    "VOICING_CONFIRMATION=token: the model relays the confirmation token, so it can confirm a call by itself "
    "(a prompt-injected model will); unset it (human mode) unless you accept that"
)
"""Said by the server's start-up log and by ``check`` outside local mode."""

_E164_OR_PREFIX = re.compile(r"^\+\d{1,15}\*?$")


ENV_PREFIX = "VOICING_"


def environment_values(fields: Iterable[str]) -> dict[str, str]:
    """The ``VOICING_<NAME>`` environment variables of ``fields``, by field name, their text as it is: a name
    matches in any case (``voicing_env`` is ``VOICING_ENV``; of two spellings of one name, the later in the
    environment wins), an empty value is a value, nothing is decoded from JSON (lists are comma-separated)."""
    lowered = {name.lower(): value for name, value in os.environ.items()}
    prefix = ENV_PREFIX.lower()
    return {name: lowered[prefix + name] for name in fields if prefix + name in lowered}


class Settings(BaseModel):
    """Every ``VOICING_*`` setting (docs/settings.md), read from the environment when constructed; a keyword
    argument replaces the variable. :func:`load_settings` gives friendly errors."""

    # the defaults go through the validators too; a keyword argument or a variable that is no field is ignored
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True, arbitrary_types_allowed=True)

    def __init__(self, **values: Any) -> None:
        # read here, not with pydantic-settings: importing it (python-dotenv and its sources) took ~30 ms of every start
        super().__init__(**{**environment_values(type(self).model_fields), **values})

    api_key: SecretStr | None = Field(
        default=None, description="the 'Rest APIs' key, sent as x-api-key (none: the built-in emulator answers)"
    )
    env: Env | None = Field(
        default=None,
        description="local (an emulator: the built-in one, or 'voicing-mcp emulator' at a loopback VOICING_BASE_URL), "
        "development, sandbox or production (default: local without a key, else production)",
    )
    base_url: str | None = Field(default=None, description="overrides the base URL of VOICING_ENV")
    prompts_dir: Path | None = Field(
        default=None,
        description="folder of your <assistant_id>.j2 templates (default: the checkout's prompts/ when run from a "
        "clone, else your config folder; never the working directory; local mode adds the shipped examples)",
    )
    quiet_hours: QuietHours | None = Field(
        default=DEFAULT_QUIET_HOURS,
        description="no dialling in this window, callee's local time, HH:MM-HH:MM or off (default 21:00-08:00)",
    )
    allowed_numbers: list[str] = Field(
        default_factory=list,
        description="comma-separated E.164 numbers or +prefix* dialled without confirmation (default: none)",
    )
    default_region: str | None = Field(
        default=None, description="ISO country code for national-format numbers, e.g. US (default: none)"
    )
    allowed_countries: list[str] = Field(
        default_factory=list, description="comma-separated ISO codes that may be dialled (default: all)"
    )
    strict_templates: bool = Field(
        default=True, description="true: an assistant without a local template is refused; false: warned (default true)"
    )
    dnc_file: Path | None = Field(
        default=None,
        description="do-not-call list: one or more numbers a line, notes in their own column (default: none)",
    )
    confirmation: ConfirmationMode | None = Field(
        default=None,
        description="who confirms a dial: human, or token (the model relays it) (default: human; token in local mode)",
    )
    confirm_port: int | None = Field(
        default=None, ge=0, le=65535, description="loopback port of the confirm page (default: a free port)"
    )
    require_elicitation: bool | None = Field(
        default=None,
        description="replaced by VOICING_CONFIRMATION; still read so that true keeps meaning 'a human confirms'",
    )
    log_level: LogLevel = Field(
        default="warning", description="debug, info, warning or error; logs go to stderr (default warning)"
    )
    max_calls_per_hour: int = Field(default=30, ge=0, description="dial rate limit of this server (default 30)")
    max_calls_per_number: CallsPerNumber = Field(
        default=CallsPerNumber(3, timedelta(hours=24)),
        description="calls to one number in a window, across campaigns and single calls, N/<hours>h (default 3/24h)",
    )
    campaigns_dir: Path | None = Field(
        default=None,
        description="folder of recipient CSV files a campaign may read (recipients_file); any other path is refused "
        "(default: campaigns in your data folder)",
    )
    ledger: Path | SecretStr | None = Field(
        default=None,
        description="audit ledger of every dial: an SQLite file (default: ledger.sqlite3 in your state folder), or "
        "a postgresql:// URL that several replicas share (its password is a secret)",
    )
    mcp_token: SecretStr | None = Field(
        default=None, description="bearer token required on SSE/HTTP (required on a non-loopback --host)"
    )
    token_secret: SecretStr | None = Field(
        default=None,
        description="shared secret of the confirmation tokens, at least 32 random characters: every replica of a "
        "shared service needs the same one (required with a postgresql:// ledger; default: random per process)",
    )
    http_stateless: bool = Field(
        default=False,
        description="true: streamable HTTP keeps no session, so any replica behind a load balancer answers any "
        "request (2025-11-25 clients then get no form elicitation; README, Running as a shared service) "
        "(default false)",
    )

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet_hours(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_quiet_hours(value)
        return value

    @field_validator("max_calls_per_number", mode="before")
    @classmethod
    def _max_calls_per_number(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_calls_per_number(value)
        return value

    @field_validator("allowed_numbers", mode="before")
    @classmethod
    def _allowed_numbers(cls, value: Any) -> Any:
        items = split_csv(value)
        if isinstance(items, list):
            for item in items:
                if not isinstance(item, str) or not _E164_OR_PREFIX.match(item.replace(" ", "")):
                    raise ValueError(f"{item!r} is not an E.164 number (+17015550123) or a prefix (+1701*)")
            return [str(i).replace(" ", "") for i in items]
        return items

    @field_validator("allowed_countries", mode="before")
    @classmethod
    def _allowed_countries(cls, value: Any) -> Any:
        items = split_csv(value)
        if isinstance(items, list):
            return [parse_region(str(i)) for i in items]
        return items

    @field_validator("default_region", mode="before")
    @classmethod
    def _default_region(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_region(value) if value.strip() else None
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            v = value.strip().rstrip("/")
            if not v:
                return None
            if not re.match(r"^https?://[^/\s]+", v):
                shown = redact_url(v)  # a URL's user:password is never shown, nor what precedes an '@' in any text
                if "@" in shown and "•••@" not in shown:
                    shown = "•••@" + shown.rsplit("@", 1)[1]
                raise ValueError(f"{shown!r} is not an http(s) URL")
            return v
        return value

    @field_validator("prompts_dir", "dnc_file", "ledger", "campaigns_dir", mode="before")
    @classmethod
    def _expand_home(cls, value: Any, info: ValidationInfo) -> Any:
        # client configs (JSON env blocks) pass "~/…" unexpanded: no shell reads them
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if info.field_name == "ledger" and text.lower().startswith(("postgresql://", "postgres://")):
                scheme, rest = text.split("://", 1)  # libpq knows the scheme in lower case only
                return SecretStr(f"{scheme.lower()}://{rest}")  # may carry a password: never shown (ledger_shown)
            if info.field_name == "ledger" and "://" in text and not text.startswith(("/", "~")):
                # another URL (postgresql+psycopg://, mysql://…): refused, shown with its credentials masked
                raise ValueError(
                    f"{redact_dsn(text)} is not a ledger this server can use: a PostgreSQL ledger's URL starts with "
                    "postgresql:// or postgres:// (no +driver suffix); anything else is an SQLite file's absolute path"
                )
            path = Path(text).expanduser()
            if not path.is_absolute() and "@" in text:  # user:password@host with a typo in the scheme
                raise ValueError(
                    "must be an absolute path or a postgresql:// URL (the value is not shown: it looks like it "
                    "carries credentials)"
                )
            if not path.is_absolute():
                # a relative path would follow the working directory, which is whatever folder the client starts
                # the server in: a restart elsewhere would open a fresh ledger (and dial a blocked number again)
                raise ValueError(
                    f"must be an absolute path (got {redact_dsn(text)!r}): the server's working directory is whatever "
                    "folder the client starts it in; write the full path, or ~/… for your home folder"
                )
            return path
        return value

    @field_validator("api_key", "mcp_token", "token_secret", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            # a pasted key often brings a line break or spaces along: they are never part of it
            text = value.strip()
            if not text:
                return None
            if any(ch.isspace() or not ch.isprintable() for ch in text):
                # never echo the value: it is a secret
                raise ValueError(
                    "contains a space, line break or control character inside it; "
                    "paste the key alone (the value is not shown here)"
                )
            return text
        return value

    @field_validator("token_secret", mode="after")
    @classmethod
    def _strong_token_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = secret_problem(value.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("confirmation", "env", mode="before")
    @classmethod
    def _lower_or_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @field_validator("confirm_port", mode="before")
    @classmethod
    def _blank_port_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower() or "warning"
        return value

    @model_validator(mode="after")
    def _check_env_and_key(self) -> Settings:
        env = self.resolved_env
        if env != "local" and self.api_key is None and self.base_url is None:
            raise ValueError(
                f"VOICING_ENV={env} needs VOICING_API_KEY (a 'Rest APIs' key); "
                "unset VOICING_ENV to use the built-in emulator"
            )
        if self.env == "local" and self.base_url is not None and not is_loopback_url(self.base_url):
            raise ValueError(
                f"VOICING_ENV=local talks to an emulator on this machine, but VOICING_BASE_URL is "
                f"{redact_url(self.base_url)}: use a loopback URL (http://127.0.0.1:PORT from 'voicing-mcp emulator'), "
                "or set VOICING_ENV to development, sandbox or production for a real API"
            )
        if self.require_elicitation and self.confirmation == "token":
            raise ValueError(
                "VOICING_REQUIRE_ELICITATION=true contradicts VOICING_CONFIRMATION=token; VOICING_REQUIRE_ELICITATION "
                "was replaced by VOICING_CONFIRMATION: remove it"
            )
        return self

    # ----- resolved values -------------------------------------------------------------
    @property
    def resolved_env(self) -> Env:
        """``VOICING_ENV`` if set, else ``local`` without a key and ``production`` with one."""
        if self.env is not None:
            return self.env
        return "local" if self.api_key is None else "production"

    @property
    def is_local(self) -> bool:
        """True when the built-in emulator is used (no real phone can ring)."""
        return self.resolved_env == "local" and self.base_url is None

    @property
    def serves_examples(self) -> bool:
        """True when the shipped example templates count: ``VOICING_ENV`` is ``local`` (set, or implied without a
        key), so an emulator answers — the built-in one, or ``voicing-mcp emulator`` on a loopback
        ``VOICING_BASE_URL`` — and its assistants are the examples. A loopback URL may also be a tunnel to a real
        API, so the rest of local mode (token confirmation, "no real phone will ring") needs the built-in one."""
        return self.resolved_env == "local"

    @property
    def resolved_confirmation(self) -> ConfirmationMode:
        """``VOICING_CONFIRMATION`` if set; else ``human``, except ``token`` in local mode (no real phone rings).

        The replaced ``VOICING_REQUIRE_ELICITATION=true`` still means ``human``.
        """
        if self.confirmation is not None:
            return self.confirmation
        if self.require_elicitation:
            return "human"
        return "token" if self.is_local else "human"

    @property
    def replaced_settings(self) -> list[str]:
        """Notes on settings that were replaced (said by ``check`` and the startup log)."""
        if self.require_elicitation is None:
            return []
        meaning = (
            "true is read as VOICING_CONFIRMATION=human"
            if self.require_elicitation
            else f"false has no effect (confirmation: {self.resolved_confirmation})"
        )
        return [
            f"VOICING_REQUIRE_ELICITATION was replaced by VOICING_CONFIRMATION (human or token); {meaning}; "
            "remove VOICING_REQUIRE_ELICITATION and set VOICING_CONFIRMATION if you need another mode"
        ]

    @property
    def resolved_base_url(self) -> str | None:
        """The API base URL; None in local mode (the emulator's URL is known only once it runs)."""
        if self.base_url is not None:
            return self.base_url
        env = self.resolved_env
        return None if env == "local" else BASE_URLS[env]

    @property
    def resolved_prompts_dir(self) -> Path:
        """The user's prompts folder: ``VOICING_PROMPTS_DIR``, else :func:`default_prompts_dir` (never the
        working directory)."""
        return self.prompts_dir if self.prompts_dir is not None else default_prompts_dir()

    @property
    def resolved_campaigns_dir(self) -> Path:
        """The folder ``recipients_file`` must be in: ``VOICING_CAMPAIGNS_DIR``, else :func:`default_campaigns_dir`."""
        return self.campaigns_dir if self.campaigns_dir is not None else default_campaigns_dir()

    @property
    def template_folders(self) -> tuple[Path, ...]:
        """Where templates are looked up, in order: the user's folder, then — in local mode only — the examples
        shipped in the package (the emulator's assistants). Outside local mode only the user's templates count."""
        folder = self.resolved_prompts_dir
        if self.serves_examples and folder != PACKAGE_PROMPTS_DIR:
            return (folder, PACKAGE_PROMPTS_DIR)
        return (folder,)

    @property
    def missing_token_secret(self) -> str | None:
        """Why the server must not start without VOICING_TOKEN_SECRET (a shared ledger), or None."""
        if self.token_secret is not None or not self.ledger_is_shared:
            return None
        return (
            "VOICING_TOKEN_SECRET is required with a shared (postgresql://) VOICING_LEDGER: every replica must "
            "verify the confirmation tokens the others issue, and a random per-process secret would refuse them; "
            f"set the same secret of at least {MIN_SECRET_CHARS} random characters on every replica ({MAKE_A_SECRET})"
        )

    @property
    def resolved_ledger(self) -> Path | SecretStr:
        """The SQLite file, or the PostgreSQL URL (a secret: :attr:`ledger_shown` is how it is shown)."""
        return self.ledger if self.ledger is not None else default_state_dir() / "ledger.sqlite3"

    @property
    def ledger_is_shared(self) -> bool:
        """True when the ledger is a PostgreSQL database (shared by replicas), False for an SQLite file."""
        return isinstance(self.ledger, SecretStr)

    @property
    def ledger_shown(self) -> str:
        """The ledger for a person: the file, or the URL with its credentials masked."""
        t = self.resolved_ledger
        return redact_dsn(t.get_secret_value()) if isinstance(t, SecretStr) else str(t)
