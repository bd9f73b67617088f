"""Base settings, driven by environment variables (see README, "Configuration")."""
import os

from maasproject.env import database_settings, generated_secret
from rack_worker.env import (
    BASE_DIR,
    broker_connection_max_retries,
    broker_transport,
    broker_transport_options,
    broker_url,
    env_bool,
    is_redis_url,
    is_sentinel_url,
    sentinel_master_name,
    var_dir,
    worker_consumer,
)

VAR_DIR = var_dir()

SECRET_KEY = os.environ.get("SECRET_KEY") or generated_secret("secret_key")
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "zones",
    "nodes",
    "power",
    "maasapi",
]

MIDDLEWARE = [
    "maasproject.metrics.MetricsMiddleware",  # outermost: times and counts every answer
    "django.middleware.security.SecurityMiddleware",
    "maasproject.api.unavailable.BackendUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "maasproject.api.middleware.ApiInputMiddleware",
]

# Which listener this web process is (README, "Processes and ports"): "rack" serves only the
# rack API (maasproject/urls_rack.py) on its own port and workers, so that heartbeats and boot
# decisions never queue behind operator or metadata requests; anything else serves everything.
REGION_LISTENER = os.environ.get("REGION_LISTENER", "main")
ROOT_URLCONF = "maasproject.urls_rack" if REGION_LISTENER == "rack" else "maasproject.urls"
# The main listener's port: the rack listener serves no metadata API, so it sends booting
# machines (metal.region=) to this port of the host the rack used when REGION_URL is not set.
REGION_PORT = int(os.environ.get("REGION_PORT", "5240"))
WSGI_APPLICATION = "maasproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A kept connection is checked before each request reuses it (CONN_HEALTH_CHECKS): after a
# PostgreSQL failover the next request connects to the new primary instead of failing.
DATABASES = {
    "default": database_settings(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'maas.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Wait for a writer instead of failing at once: the worker and web share the file.
    # IMMEDIATE: a transaction takes the write lock when it begins; a deferred one that reads
    # first and then writes fails at once ("database is locked") when another writer holds
    # the lock, as the timeout does not apply to that upgrade (a runner's parallel scripts).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30, transaction_mode="IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request until collectstatic ran
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/machines/"
LOGOUT_REDIRECT_URL = "/login/"

# Largest request body read into memory (API JSON and forms): beyond it, a JSON 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "maasproject.api.authentication.ApiKeyOAuthAuthentication",
        "maasproject.api.authentication.ApiKeyBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "maasproject.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "maasproject.api.schema.ErrorDocumentingAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "maasproject.api.errors.exception_handler",
}
# Checks an API key's parts for maasproject.api.authentication: (user, key) or None.
API_KEY_AUTHENTICATOR = "nodes.services.accounts.apikey_authenticate"

SPECTACULAR_SETTINGS = {
    "TITLE": "Metal region API",
    "DESCRIPTION": "Bare-metal provisioning: machines, zones, pools, networks, lifecycle actions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response bodies as separate components: write-only fields (a password) are
    # not in answers, read-only ones not asked for.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets served locally: regions often have no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"NodeStatusEnum": "nodes.choices.NodeStatus",
                            "ScriptStatusEnum": "nodes.choices.ScriptStatus"},
}

# Celery: with no broker configured, kombu's filesystem transport under var/ (no server).
CELERY_BROKER_URL = broker_url()
# The cache holds rate limits, shared by every region process: Redis when the broker is Redis,
# else files under var/ (the region processes of one host). Never cache.clear(): with Redis it
# would flush the broker's database.
# Behind Sentinels (a sentinel:// broker URL), the cache follows their master too.
if is_sentinel_url(CELERY_BROKER_URL):
    _CACHE = {"BACKEND": "maasproject.sentinel_cache.SentinelRedisCache",
              "LOCATION": CELERY_BROKER_URL, "OPTIONS": {"master_name": sentinel_master_name()}}
elif is_redis_url(CELERY_BROKER_URL):
    _CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache",
              "LOCATION": CELERY_BROKER_URL}
else:
    _CACHE = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
              "LOCATION": str(VAR_DIR / "cache")}
CACHES = {"default": _CACHE}
# The filesystem broker's files are 0600 (rack_worker/fsbroker.py); None: the URL's transport.
CELERY_BROKER_TRANSPORT = broker_transport(CELERY_BROKER_URL)
# With Redis: a message taken by a worker that died goes to another after the visibility
# timeout (CELERY_VISIBILITY_TIMEOUT, shared with the racks: rack_worker.env says why).
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
# Retry a broker that is not up yet at start too (Celery 6 stops taking broker_connection_retry
# for it, and Celery 5 warns about that at every start until this is set).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Behind Sentinels: reconnect every 0.5-2 s, forever, to follow a failover (rack_worker.env).
CELERY_WORKER_CONSUMER = worker_consumer(CELERY_BROKER_URL)
CELERY_BROKER_CONNECTION_MAX_RETRIES = broker_connection_max_retries(CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = "region"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
# At least once: a region task is acknowledged when it ends, not when a worker takes it, and
# goes back to the queue when its worker dies; a worker holds one message it has not started.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Every region runs a beat; each periodic task is sent once per tick cluster-wide
# (maasproject/beat.py).
CELERY_BEAT_SCHEDULER = "maasproject.beat:ClusterScheduler"

# Wrong rack secrets a source address may send per minute before /rack/register/ answers 429.
RACK_REGISTER_FAILURES = int(os.environ.get("RACK_REGISTER_FAILURES", "10"))

# Lifecycle deadlines (seconds) for in-progress statuses.
MACHINE_STATUS_TIMEOUT = int(os.environ.get("MACHINE_STATUS_TIMEOUT", "1800"))
MACHINE_RELEASING_TIMEOUT = int(os.environ.get("MACHINE_RELEASING_TIMEOUT", "300"))
DEADLINE_CHECK_INTERVAL = float(os.environ.get("DEADLINE_CHECK_INTERVAL", "60"))

# Power polling: every machine about once per interval, claimed in shares every tick.
POWER_POLL_INTERVAL = float(os.environ.get("POWER_POLL_INTERVAL", "300"))
POWER_POLL_TICK = float(os.environ.get("POWER_POLL_TICK", "10"))
# A power request with no outcome (result or failure) after POWER_RESULT_TIMEOUT seconds is sent
# again, to a healthy rack; after POWER_RESULT_ATTEMPTS sends it fails with an event. Checked
# every POWER_RESULT_CHECK_INTERVAL seconds.
POWER_RESULT_TIMEOUT = int(os.environ.get("POWER_RESULT_TIMEOUT", "180"))
POWER_RESULT_ATTEMPTS = int(os.environ.get("POWER_RESULT_ATTEMPTS", "3"))
POWER_RESULT_CHECK_INTERVAL = float(os.environ.get("POWER_RESULT_CHECK_INTERVAL", "30"))

# Metadata API (machines' ephemeral environment).
METADATA_MAX_OUTPUT = int(os.environ.get("METADATA_MAX_OUTPUT", str(4 * 1024 * 1024)))
# "leases": a machine token (and a hello without one) works only from an address a rack leased
# to the machine's MAC or assigned to it; "any": from anywhere (machines behind NAT, simulations).
METADATA_TOKEN_SOURCES = os.environ.get("METADATA_TOKEN_SOURCES", "leases")
METADATA_HEARTBEAT_INTERVAL = int(os.environ.get("METADATA_HEARTBEAT_INTERVAL", "30"))
# The deploy runner's first wait before it downloads the image again (then 2x, 3x...).
DEPLOY_RETRY_WAIT = int(os.environ.get("DEPLOY_RETRY_WAIT", "10"))
METADATA_HEARTBEAT_TIMEOUT = int(os.environ.get("METADATA_HEARTBEAT_TIMEOUT", "300"))
# A commissioning, testing or deployment job whose machine never reached the metadata API this
# long after the job started fails then, not at MACHINE_STATUS_TIMEOUT.
MACHINE_BOOT_TIMEOUT = int(os.environ.get("MACHINE_BOOT_TIMEOUT", "900"))
# Power cycles per job for a machine whose boot loader broke off fetching its kernel or initrd.
PXE_BOOT_RETRIES = int(os.environ.get("PXE_BOOT_RETRIES", "2"))
# Enlisted machines start commissioning in the same boot.
ENLIST_COMMISSION = env_bool("ENLIST_COMMISSION", default=True)
# The URL booting machines reach the region at (metal.region=); empty: the URL the rack used.
REGION_URL = os.environ.get("REGION_URL", "")
# Every region's URL as racks reach it (comma-separated), answered to their register and heartbeat
# so that they fail over to another region; empty: the URL the rack used.
REGION_URLS = [url.strip() for url in os.environ.get("REGION_URLS", "").split(",") if url.strip()]
# Where boot resource files are stored; racks sync the registered ones into their cache.
BOOT_RESOURCES_DIR = os.environ.get("BOOT_RESOURCES_DIR") or str(VAR_DIR / "boot-resources")
# The kernel flavour of the image the MAAS API's boot-resources import builds: generic (real
# hardware) or cloud (virtio only, smaller). manage.py import_boot_images takes --kernel-flavour.
BOOT_IMPORT_KERNEL_FLAVOUR = os.environ.get("BOOT_IMPORT_KERNEL_FLAVOUR", "generic")

# Racks: heartbeat age that makes a rack dead (its DHCP VLANs fail over), sweep interval.
RACK_DEAD_AFTER = float(os.environ.get("RACK_DEAD_AFTER", "30"))
RACK_STATUS_INTERVAL = float(os.environ.get("RACK_STATUS_INTERVAL", "10"))
# DHCP leases the racks hand out (seconds): known machines, and unknown ones enlisting.
DHCP_LEASE_TIME = int(os.environ.get("DHCP_LEASE_TIME", "600"))
DHCP_ENLIST_LEASE_TIME = int(os.environ.get("DHCP_ENLIST_LEASE_TIME", "120"))
# Where account/prefs/sshkeys/?op=import fetches public keys, one per line, by keysource protocol
# ({user} is the name after `lp:`/`gh:`): point them at a mirror where the region has no internet.
SSH_KEYS_IMPORT_URLS = {
    "lp": os.environ.get("SSH_KEYS_IMPORT_LP_URL", "https://launchpad.net/~{user}/+sshkeys"),
    "gh": os.environ.get("SSH_KEYS_IMPORT_GH_URL", "https://github.com/{user}.keys"),
}
SSH_KEYS_IMPORT_TIMEOUT = float(os.environ.get("SSH_KEYS_IMPORT_TIMEOUT", "10"))
# Fernet key of secret power parameters at rest; empty: generated once into VAR_DIR.
POWER_SECRETS_KEY = os.environ.get("POWER_SECRETS_KEY", "")

# /metrics (maasproject/metrics.py): every region process of this host keeps its counters in
# files under METRICS_DIR (prometheus_client's multiprocess mode, chosen before any metric exists:
# hence here); METRICS_TOKEN, if set, is the bearer token a scraper sends, else only loopback
# clients are answered. METRICS_COLLECTORS: what is read at scrape time (DB, broker).
METRICS_DIR = str(VAR_DIR / "metrics")
os.makedirs(METRICS_DIR, exist_ok=True)
os.environ.update(PROMETHEUS_MULTIPROC_DIR=METRICS_DIR)  # for prometheus_client, not a setting
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_COLLECTORS = ["nodes.metrics.region_collectors"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
