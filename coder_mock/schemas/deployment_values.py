"""Schemas of codersdk.DeploymentValues, the `config` of GET /deployment/config.

Field order follows the Go struct declarations in codersdk/deployment.go of
Coder at commit 2cc56ab5 (2025-04-17), which is the key order coderd writes.
Classes are defined innermost first, so DeploymentValues comes last.

Wire shapes, taken from coder/serpent v0.10.0: serpent.URL, serpent.HostPort
and serpent.Regexp marshal as plain strings, and serpent.Struct[T] marshals as
T itself with no wrapper object. swagger.json describes URL and HostPort as
objects, which coderd never sends. A serpent.StringArray or serpent.Struct
that was never set is a nil Go value, so coderd sends it as null unless
`omitempty` drops the key.

`metadata={"omitempty": True}` marks fields whose Go tag has `omitempty` and
whose Go kind it can drop (bool, string, integer, slice). Go never drops a
struct-typed field, even under `omitempty`, so those fields (nested configs,
URL, HostPort, Struct) carry no mark. `secret=True` marks the options that
coderd blanks in DeploymentValues.WithoutSecrets.
"""

from __future__ import annotations

from coder_mock.schemas.fields import (
    URL,
    AnyMap,
    Bool,
    CoderSchema,
    Duration,
    Enum,
    Int,
    Nested,
    NestedList,
    Regexp,
    String,
    StringList,
)


class HostPort(CoderSchema):
    """serpent.HostPort in the object form swagger.json documents.

    coderd sends every HostPort value as one "host:port" string (an empty
    string when unset), so the address fields below are String fields and no
    field uses this schema.
    """

    host = String()
    port = String()


class DERPServerConfig(CoderSchema):
    """codersdk.DERPServerConfig: the relay server built into coderd."""

    enable = Bool()
    region_id = Int()
    region_code = String()
    region_name = String()
    stun_addresses = StringList()
    relay_url = URL()


class DERPConfig(CoderSchema):
    """codersdk.DERPConfig: where the DERP map comes from and how clients use it."""

    block_direct = Bool()
    force_websockets = Bool()
    url = String()
    path = String()


class DERP(CoderSchema):
    """codersdk.DERP: the embedded relay server and the DERP map source."""

    server = Nested(DERPServerConfig)
    config = Nested(DERPConfig)


class PrometheusConfig(CoderSchema):
    """codersdk.PrometheusConfig: the metrics endpoint."""

    enable = Bool()
    address = String()  # serpent.HostPort
    collect_agent_stats = Bool()
    collect_db_metrics = Bool()
    aggregate_agent_stats_by = StringList()


class PprofConfig(CoderSchema):
    """codersdk.PprofConfig: the Go profiling endpoint."""

    enable = Bool()
    address = String()  # serpent.HostPort


class OAuth2GithubConfig(CoderSchema):
    """codersdk.OAuth2GithubConfig: login with GitHub."""

    client_id = String()
    client_secret = String(secret=True)
    device_flow = Bool()
    default_provider_enable = Bool()
    allowed_orgs = StringList()
    allowed_teams = StringList()
    allow_signups = Bool()
    allow_everyone = Bool()
    enterprise_base_url = String()


class OAuth2Config(CoderSchema):
    """codersdk.OAuth2Config: OAuth2 login providers."""

    github = Nested(OAuth2GithubConfig)


class OIDCConfig(CoderSchema):
    """codersdk.OIDCConfig: login with OpenID Connect and claim mappings."""

    allow_signups = Bool()
    client_id = String()
    client_secret = String(secret=True)
    client_key_file = String()
    client_cert_file = String()
    email_domain = StringList()
    issuer_url = String()
    scopes = StringList()
    ignore_email_verified = Bool()
    username_field = String()
    name_field = String()
    email_field = String()
    auth_url_params = AnyMap()  # serpent.Struct[map[string]string]
    ignore_user_info = Bool()
    source_user_info_from_access_token = Bool()
    organization_field = String()
    organization_mapping = AnyMap()  # serpent.Struct[map[string][]uuid.UUID]
    organization_assign_default = Bool()
    group_auto_create = Bool()
    group_regex_filter = Regexp()
    group_allow_list = StringList()
    groups_field = String()
    group_mapping = AnyMap()  # serpent.Struct[map[string]string]
    user_role_field = String()
    user_role_mapping = AnyMap()  # serpent.Struct[map[string][]string]
    user_roles_default = StringList()
    sign_in_text = String()
    icon_url = URL()
    signups_disabled_text = String()
    skip_issuer_checks = Bool()


class TelemetryConfig(CoderSchema):
    """codersdk.TelemetryConfig: usage reporting to Coder."""

    enable = Bool()
    trace = Bool()
    url = URL()


class TLSConfig(CoderSchema):
    """codersdk.TLSConfig: the HTTPS listener and client certificates."""

    enable = Bool()
    address = String()  # serpent.HostPort
    redirect_http = Bool()
    cert_file = StringList()
    client_auth = String()
    client_ca_file = String()
    key_file = StringList()
    min_version = String()
    client_cert_file = String()
    client_key_file = String()
    supported_ciphers = StringList()
    allow_insecure_ciphers = Bool()


class TraceConfig(CoderSchema):
    """codersdk.TraceConfig: OpenTelemetry tracing export."""

    enable = Bool()
    honeycomb_api_key = String(secret=True)
    capture_logs = Bool()
    data_dog = Bool()


class HTTPCookieConfig(CoderSchema):
    """codersdk.HTTPCookieConfig: attributes of the session cookie."""

    secure_auth_cookie = Bool(metadata={"omitempty": True})
    # The choices are the ones the option accepts (serpent.EnumOf).
    same_site = Enum("lax", "none", metadata={"omitempty": True})


class ProvisionerConfig(CoderSchema):
    """codersdk.ProvisionerConfig: the provisioner daemons built into coderd."""

    daemons = Int()
    daemon_types = StringList()
    daemon_poll_interval = Duration()
    daemon_poll_jitter = Duration()
    force_cancel_interval = Duration()
    daemon_psk = String(secret=True)


class RateLimitConfig(CoderSchema):
    """codersdk.RateLimitConfig: request rate limits of the API."""

    disable_all = Bool()
    api = Int()


class SwaggerConfig(CoderSchema):
    """codersdk.SwaggerConfig: whether coderd serves its Swagger UI."""

    enable = Bool()


class LoggingConfig(CoderSchema):
    """codersdk.LoggingConfig: log filters and log output paths."""

    log_filter = StringList()
    human = String()
    json = String()
    stackdriver = String()


class DangerousConfig(CoderSchema):
    """codersdk.DangerousConfig: settings that weaken security."""

    allow_path_app_sharing = Bool()
    allow_path_app_site_owner_access = Bool()
    allow_all_cors = Bool()


class SessionLifetime(CoderSchema):
    """codersdk.SessionLifetime: lifetimes of browser sessions and API tokens."""

    disable_expiry_refresh = Bool(metadata={"omitempty": True})
    default_duration = Duration()
    default_token_lifetime = Duration(metadata={"omitempty": True})
    max_token_lifetime = Duration(metadata={"omitempty": True})
    # newer servers: Coder added it after early July 2025, so swagger.json lacks it.
    max_admin_token_lifetime = Duration(metadata={"omitempty": True})


class LinkConfig(CoderSchema):
    """codersdk.LinkConfig: one link of the dashboard's support menu."""

    name = String()
    target = String()
    # NOTE: swagger.json limits icon to bug, chat and docs, but coderd's own
    # default links also use "star", so any string is accepted here.
    icon = String()


class SupportConfig(CoderSchema):
    """codersdk.SupportConfig: the dashboard's support menu."""

    links = NestedList(LinkConfig)  # serpent.Struct[[]LinkConfig]


class ExternalAuthConfig(CoderSchema):
    """codersdk.ExternalAuthConfig: one external auth provider.

    Go excludes client_secret and extra_token_keys from JSON, so they are not fields.
    """

    type = String()
    client_id = String()
    id = String()
    auth_url = String()
    token_url = String()
    validate_url = String()
    app_install_url = String()
    app_installations_url = String()
    no_refresh = Bool()
    scopes = StringList()
    device_flow = Bool()
    device_code_url = String()
    regex = String()
    display_name = String()
    display_icon = String()


class SSHConfig(CoderSchema):
    """codersdk.SSHConfig: defaults for `coder config-ssh`.

    The Go fields have no JSON tags, so coderd sends the Go field names.
    swagger.json lists them as deploymentName and sshconfigOptions instead.
    """

    DeploymentName = String()
    SSHConfigOptions = StringList()


class UserQuietHoursScheduleConfig(CoderSchema):
    """codersdk.UserQuietHoursScheduleConfig: default quiet hours for autostop."""

    default_schedule = String()
    allow_user_custom = Bool()


class HealthcheckConfig(CoderSchema):
    """codersdk.HealthcheckConfig: interval and thresholds of the health report."""

    refresh = Duration()
    threshold_database = Duration()


class NotificationsEmailAuthConfig(CoderSchema):
    """codersdk.NotificationsEmailAuthConfig: SMTP authentication."""

    identity = String()
    username = String()
    password = String(secret=True)
    password_file = String()


class NotificationsEmailTLSConfig(CoderSchema):
    """codersdk.NotificationsEmailTLSConfig: TLS towards the SMTP server."""

    start_tls = Bool()
    server_name = String()
    insecure_skip_verify = Bool()
    ca_file = String()
    cert_file = String()
    key_file = String()


class NotificationsEmailConfig(CoderSchema):
    """codersdk.NotificationsEmailConfig: SMTP delivery of notifications."""

    from_ = String(data_key="from")
    smarthost = String()
    hello = String()
    auth = Nested(NotificationsEmailAuthConfig)
    tls = Nested(NotificationsEmailTLSConfig)
    force_tls = Bool()


class NotificationsWebhookConfig(CoderSchema):
    """codersdk.NotificationsWebhookConfig: webhook delivery of notifications."""

    endpoint = URL()


class NotificationsInboxConfig(CoderSchema):
    """codersdk.NotificationsInboxConfig: the in-dashboard notification inbox."""

    enabled = Bool()


class NotificationsConfig(CoderSchema):
    """codersdk.NotificationsConfig: queueing, retries and delivery of notifications."""

    max_send_attempts = Int()
    retry_interval = Duration()
    sync_interval = Duration()
    sync_buffer_size = Int()
    lease_period = Duration()
    lease_count = Int()
    fetch_interval = Duration()
    method = String()
    dispatch_timeout = Duration()
    email = Nested(NotificationsEmailConfig)
    webhook = Nested(NotificationsWebhookConfig)
    inbox = Nested(NotificationsInboxConfig)


class DeploymentValues(CoderSchema):
    """codersdk.DeploymentValues: every server setting, secrets blanked."""

    verbose = Bool(metadata={"omitempty": True})
    access_url = URL()
    wildcard_access_url = String(metadata={"omitempty": True})
    docs_url = URL()
    redirect_to_access_url = Bool(metadata={"omitempty": True})
    http_address = String(metadata={"omitempty": True})
    autobuild_poll_interval = Duration(metadata={"omitempty": True})
    job_hang_detector_interval = Duration(metadata={"omitempty": True})
    derp = Nested(DERP)
    prometheus = Nested(PrometheusConfig)
    pprof = Nested(PprofConfig)
    proxy_trusted_headers = StringList(metadata={"omitempty": True})
    proxy_trusted_origins = StringList(metadata={"omitempty": True})
    cache_directory = String(metadata={"omitempty": True})
    in_memory_database = Bool(metadata={"omitempty": True})
    ephemeral_deployment = Bool(metadata={"omitempty": True})
    pg_connection_url = String(secret=True, metadata={"omitempty": True})
    # The choices are codersdk.PostgresAuthDrivers.
    pg_auth = Enum("password", "awsiamrds", metadata={"omitempty": True})
    oauth2 = Nested(OAuth2Config)
    oidc = Nested(OIDCConfig)
    telemetry = Nested(TelemetryConfig)
    tls = Nested(TLSConfig)
    trace = Nested(TraceConfig)
    http_cookies = Nested(HTTPCookieConfig)
    strict_transport_security = Int(metadata={"omitempty": True})
    strict_transport_security_options = StringList(metadata={"omitempty": True})
    ssh_keygen_algorithm = String(metadata={"omitempty": True})
    metrics_cache_refresh_interval = Duration(metadata={"omitempty": True})
    agent_stat_refresh_interval = Duration(metadata={"omitempty": True})
    agent_fallback_troubleshooting_url = URL()
    browser_only = Bool(metadata={"omitempty": True})
    scim_api_key = String(secret=True, metadata={"omitempty": True})
    external_token_encryption_keys = StringList(secret=True, metadata={"omitempty": True})
    provisioner = Nested(ProvisionerConfig)
    rate_limit = Nested(RateLimitConfig)
    experiments = StringList(metadata={"omitempty": True})
    update_check = Bool(metadata={"omitempty": True})
    swagger = Nested(SwaggerConfig)
    logging = Nested(LoggingConfig)
    dangerous = Nested(DangerousConfig)
    disable_path_apps = Bool(metadata={"omitempty": True})
    session_lifetime = Nested(SessionLifetime)
    disable_password_auth = Bool(metadata={"omitempty": True})
    support = Nested(SupportConfig)
    # serpent.Struct[[]ExternalAuthConfig]: a bare array, or null when no provider is set.
    external_auth = NestedList(ExternalAuthConfig)
    config_ssh = Nested(SSHConfig)
    wgtunnel_host = String(metadata={"omitempty": True})
    disable_owner_workspace_exec = Bool(metadata={"omitempty": True})
    proxy_health_status_interval = Duration(metadata={"omitempty": True})
    enable_terraform_debug_mode = Bool(metadata={"omitempty": True})
    user_quiet_hours_schedule = Nested(UserQuietHoursScheduleConfig)
    web_terminal_renderer = String(metadata={"omitempty": True})
    allow_workspace_renames = Bool(metadata={"omitempty": True})
    healthcheck = Nested(HealthcheckConfig)
    cli_upgrade_message = String(metadata={"omitempty": True})
    terms_of_service_url = String(metadata={"omitempty": True})
    notifications = Nested(NotificationsConfig)
    additional_csp_policy = StringList(metadata={"omitempty": True})
    workspace_hostname_suffix = String(metadata={"omitempty": True})
    config = String(metadata={"omitempty": True})  # serpent.YAMLConfigPath
    write_config = Bool(metadata={"omitempty": True})
    address = String()  # serpent.HostPort, deprecated in Go for http_address and tls.address
