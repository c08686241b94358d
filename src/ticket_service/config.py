"""One Settings object, read from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ticket_service.kit.crypto import Keyring
from ticket_service.kit.outbound import OutboundPolicy

DEFAULT_SECRET_KEY = "change-me-in-production"  # noqa: S105 - the value production refuses

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service. `.env.example` lists each one with its default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_format: Literal["json", "console"] = Field(
        default="json", description="JSON lines on stdout; `ticket-service dev` uses console"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    cors_origins: CommaList = Field(
        default=[], description="Browser origins allowed to call the API (comma list)"
    )
    cors_allow_credentials: bool = Field(
        default=False, description="Let those origins send cookies / HTTP auth (never with *)"
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db; unset in `dev` = embedded server",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:port/0; unset in `dev` = embedded Valkey"
    )
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # Fernet keys (comma list, newest first) for secrets stored in the database; unset =
    # one key derived from SECRET_KEY. See README, "Secrets at rest".
    data_keys: SecretStr = SecretStr("")
    metrics_token: SecretStr | None = None
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL used in notification links"
    )

    # Web UI (web/): "Войти как демо-…" buttons on the sign-in page, for `ticket-service dev`
    # only; production refuses to start with it on.
    demo_sign_in: bool = Field(
        default=False, description="Offer demo sign-in (employee/agent/admin) on /login"
    )
    web_time_zone: str = Field(
        default="Europe/Moscow",
        description="Time zone of dates in the web UI until the browser tells its own",
    )

    discord_client_id: str = ""
    discord_client_secret: SecretStr = SecretStr("")
    discord_redirect_uri: str = "http://127.0.0.1:8000/api/discord/auth"
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_authorize_url: str = "https://discord.com/oauth2/authorize"
    discord_guild_id: str | None = None
    discord_admin_role_ids: CommaList = []
    discord_agent_role_ids: CommaList = []
    discord_timeout_seconds: float = 5.0
    # The Discord front door (integrations/discord): POST /api/discord/interactions answers
    # only when DISCORD_INTERACTIONS is on; every request must carry Discord's Ed25519
    # signature, checked with DISCORD_PUBLIC_KEY (the application's, hex).
    discord_interactions: bool = False
    discord_public_key: str = ""
    discord_application_id: str = ""
    admin_discord_ids: CommaList = []

    access_token_ttl_seconds: int = Field(default=3600, ge=60)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=300)
    oauth_state_ttl_seconds: int = Field(default=600, ge=30)
    action_log_ttl_days: int = Field(default=90, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Connections per process: up to DB_POOL_SIZE kept open, DB_MAX_OVERFLOW more in a burst.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    admission_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long a request may wait for its turn (at most DB_POOL_SIZE requests "
        "are inside a process at once) before it is answered 503 `overloaded`",
    )
    db_retry_attempts: int = Field(
        default=3,
        ge=1,
        description="Tries of an API request whose transaction failed transiently; 1 = no replay",
    )
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    catalog_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long an api process keeps what it read of a service to open tickets "
        "with; a change shows at once in the process that made it, in the others within this "
        "time; 0 = off",
    )
    auth_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long an api process trusts what it read of a token; revocations "
        "reach every process at once through Redis; 0 = off (every request asks PostgreSQL)",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="Requests a minute per access token, or client IP; 0 = off"
    )
    auth_rate_limit_per_minute: int = Field(
        default=30,
        ge=0,
        description="Requests a minute per client IP on /api/discord/*, and 401s a minute per "
        "client IP to requests carrying a token (more such requests get 429); 0 = off",
    )

    # Notifications: each channel is on when its setting is present.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "tickets@1440.test"
    smtp_starttls: bool = False
    slack_webhook_url: SecretStr | None = None
    discord_webhook_url: SecretStr | None = None
    discord_bot_token: SecretStr | None = None
    webhook_urls: CommaList = []
    webhook_secret: SecretStr = SecretStr("")
    # Host names, addresses or networks (CIDR) that webhook URLs may point at although
    # they are loopback/private/...; `dev` adds loopback itself.
    outbound_allowed_hosts: CommaList = []
    notify_locale: Literal["ru", "en"] = "ru"
    # Team channels that may carry internal notes (a private staff channel, an internal
    # integration): any of slack, discord_webhook, webhook, email. None by default.
    internal_safe_channels: CommaList = []
    notify_max_attempts: int = Field(default=10, ge=1)
    notify_retry_base_seconds: float = Field(default=30.0, gt=0)
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_keep_sent_days: int = Field(default=30, ge=1)
    # A delivery being sent is leased to its worker for this long; a worker that dies
    # mid-send leaves a lease that expires, and the delivery is tried again.
    notify_lease_seconds: float = Field(default=60.0, gt=0)
    # A sender wakes on a NOTIFY when deliveries are written; without one it looks for due
    # deliveries this often anyway (retries recorded by another worker, leases of a worker
    # that died).
    notify_poll_seconds: float = Field(default=1.0, gt=0)

    # Worker liveness. A worker whose heartbeat is older than WORKER_STALLED_AFTER_SECONDS
    # is taken for dead (SIGKILL, lost machine) and the jobs it was running go back to the
    # queue; every worker looks for such jobs at start-up and every
    # WORKER_STALLED_CHECK_SECONDS. Deliveries are not jobs: a dead worker's sender leaves
    # leases (NOTIFY_LEASE_SECONDS) that run out, and another sender claims them then.
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)
    worker_stalled_after_seconds: float = Field(default=30.0, gt=0)
    worker_stalled_check_seconds: float = Field(default=60.0, gt=0)

    # Worker metrics and queue retention. The worker serves its own /metrics (jobs it ran,
    # notification attempts, heartbeat) on WORKER_METRICS_HOST:WORKER_METRICS_PORT; 0 = off.
    # Loopback by default, like `ticket-service api --host`: a container sets 0.0.0.0.
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # Finished procrastinate jobs are pruned daily: succeeded ones after JOBS_KEEP_DAYS,
    # failed/cancelled/aborted ones after JOBS_KEEP_FAILED_DAYS (0 = kept until removed by
    # hand), finished async actions (Prefer: respond-async) after ASYNC_ACTIONS_KEEP_DAYS.
    jobs_keep_days: int = Field(default=7, ge=1)
    jobs_keep_failed_days: int = Field(default=30, ge=0)
    async_actions_keep_days: int = Field(default=7, ge=1)

    # Idempotency-Key (idempotency/): how long a key answers its first response, and how
    # long a concurrent duplicate waits for the first request before 409.
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    idempotency_wait_seconds: float = Field(default=5.0, gt=0, le=60)

    # Tracing (ops/tracing.py): off unless a collector is named. The standard OTEL_* names,
    # so the same variables configure any OpenTelemetry process; the exporter reads the
    # others (OTEL_EXPORTER_OTLP_HEADERS, ...) from the environment itself.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector, e.g. http://127.0.0.1:4318; unset = off"
    )
    otel_service_name: str | None = Field(
        default=None, description="service.name of spans; ticket-service-api/-worker if unset"
    )

    @field_validator("internal_safe_channels", mode="after")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        known = {"slack", "discord_webhook", "webhook", "email"}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}; expected {sorted(known)}")
        return value

    @field_validator(
        "discord_admin_role_ids",
        "discord_agent_role_ids",
        "admin_discord_ids",
        "webhook_urls",
        "cors_origins",
        "internal_safe_channels",
        "outbound_allowed_hosts",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("discord_guild_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("discord_public_key", mode="after")
    @classmethod
    def _ed25519_hex(cls, value: str) -> str:
        value = value.strip().lower()
        if value and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
            raise ValueError("DISCORD_PUBLIC_KEY must be the application's public key: 64 hex")
        return value

    @field_validator("discord_application_id", mode="after")
    @classmethod
    def _snowflake(cls, value: str) -> str:
        value = value.strip()
        if value and not value.isdigit():
            raise ValueError("DISCORD_APPLICATION_ID must be a Discord id (digits)")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _plain_postgres_url(cls, value: object) -> object:
        """Accept every spelling operators paste; store the libpq one."""
        if isinstance(value, str) and value:
            for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgres://"):
                if value.startswith(prefix):
                    return "postgresql://" + value[len(prefix) :]
            return value
        return None

    @field_validator(
        "redis_url",
        "smtp_host",
        "slack_webhook_url",
        "discord_webhook_url",
        "discord_bot_token",
        "smtp_username",
        "smtp_password",
        mode="before",
    )
    @classmethod
    def _blank_redis(cls, value: object) -> object:
        return value or None

    @field_validator("web_time_zone", mode="after")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; e.g. Europe/Moscow") from None
        return value

    @model_validator(mode="after")
    def _heartbeat_before_stall(self) -> Settings:
        # One late heartbeat must not make a live worker look dead.
        if self.worker_stalled_after_seconds < 2 * self.worker_heartbeat_seconds:
            raise ValueError(
                "WORKER_STALLED_AFTER_SECONDS must be at least twice WORKER_HEARTBEAT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _failed_jobs_kept_longer(self) -> Settings:
        # The builtin pruning of failed jobs removes succeeded ones of that age too.
        if 0 < self.jobs_keep_failed_days < self.jobs_keep_days:
            raise ValueError("JOBS_KEEP_FAILED_DAYS must be 0 (keep) or at least JOBS_KEEP_DAYS")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> Settings:
        if self.notify_lease_seconds <= self.notify_timeout_seconds:
            raise ValueError("NOTIFY_LEASE_SECONDS must be longer than NOTIFY_TIMEOUT_SECONDS")
        return self

    def _refused_urls(self) -> list[str]:
        # The set-time check of URLs from the environment; the one before each call also
        # resolves host names (a name may resolve elsewhere by then).
        policy = self.outbound_policy
        named = [
            ("SLACK_WEBHOOK_URL", self.slack_webhook_url),
            ("DISCORD_WEBHOOK_URL", self.discord_webhook_url),
        ]
        urls = [(n, s.get_secret_value()) for n, s in named if s is not None]
        urls += [("WEBHOOK_URLS", url) for url in self.webhook_urls]
        return [f"{n}: {p}" for n, url in urls if (p := policy.static_problem(url))]

    @model_validator(mode="after")
    def _refuse_weak_configuration(self) -> Settings:
        """Every problem on a line of its own, so that one start-up shows them all."""
        problems = self._production_problems() + self._refused_urls()
        try:
            Keyring(self.data_key_list, self.secret_key.get_secret_value())
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        if self.environment != "production":
            return []
        problems = []
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
            problems.append(
                "SECRET_KEY must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        if self.webhook_urls and len(self.webhook_secret.get_secret_value()) < 32:
            problems.append(
                "WEBHOOK_SECRET must be at least 32 characters when WEBHOOK_URLS is set "
                "and ENVIRONMENT=production"
            )
        for name, url in (
            ("PUBLIC_URL", self.public_url),
            ("DISCORD_REDIRECT_URI", self.discord_redirect_uri),
            ("DISCORD_API_BASE_URL", self.discord_api_base_url),
            ("DISCORD_AUTHORIZE_URL", self.discord_authorize_url),
        ):
            if not url.startswith("https://"):
                problems.append(f"{name} must be an https:// URL when ENVIRONMENT=production")
        if self.demo_sign_in:
            problems.append(
                "DEMO_SIGN_IN must be false when ENVIRONMENT=production: "
                "anybody could sign in as an admin"
            )
        if self.discord_interactions and not self.discord_public_key:
            problems.append(
                "DISCORD_PUBLIC_KEY must be set when DISCORD_INTERACTIONS=true "
                "and ENVIRONMENT=production"
            )
        if self.discord_interactions and not self.discord_guild_id:
            problems.append(
                "DISCORD_GUILD_ID must be set when DISCORD_INTERACTIONS=true "
                "and ENVIRONMENT=production: only its members may act"
            )
        if "*" in self.cors_origins and self.cors_allow_credentials:
            problems.append(
                "CORS_ORIGINS=* must not be combined with CORS_ALLOW_CREDENTIALS=true "
                "when ENVIRONMENT=production: name the origins"
            )
        return problems

    @property
    def data_key_list(self) -> list[str]:
        return [k.strip() for k in self.data_keys.get_secret_value().split(",") if k.strip()]

    @property
    def outbound_policy(self) -> OutboundPolicy:
        return OutboundPolicy.build(self.environment, self.outbound_allowed_hosts)

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return "postgresql+psycopg://" + self.database_url.removeprefix("postgresql://")

    @property
    def web_redirect_uri(self) -> str:
        """Where Discord sends the browser back after the web sign-in: the second redirect
        URI registered in the Discord application."""
        return self.public_url.rstrip("/") + "/auth/callback"

    @property
    def discord_scopes(self) -> list[str]:
        scopes = ["identify", "email"]
        if self.discord_guild_id:
            scopes.append("guilds.members.read")
        return scopes


@lru_cache
def get_settings() -> Settings:
    return Settings()
