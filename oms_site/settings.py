"""Settings for the OMS, read from the environment (django-environ).

With no variables set this is the *embedded* shape: SQLite file under var/,
Celery on kombu's filesystem transport (no broker server), mail written to
var/mail/. Set DATABASE_URL, CELERY_BROKER_URL, EMAIL_URL, SECRET_KEY,
DEBUG=false and ALLOWED_HOSTS for the *production* shape (PostgreSQL, Redis,
SMTP); `manage.py check --deploy` is clean there.
"""

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("OMS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost"]),
    OPS_EMAILS=(list, []),
    TIME_ZONE=(str, "UTC"),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env("DEBUG")
# Only ever used with DEBUG on; production refuses to start without SECRET_KEY.
_DEV_SECRET_KEY = "dev-only-insecure-key-for-the-embedded-shape-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "oms_site.apps.OpsAdminConfig",  # replaces django.contrib.admin with the ops console
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rangefilter",
    "django_celery_beat",
    "ninja",
    "oms_site.apps.OmsSiteConfig",
    "notifications",
    "inventory",
    "shipping",
    "orders",
    "orders.payments.apps.PaymentsConfig",  # payments, credit control, accounting export
    "orders.returns",  # returns
    "orders.partners",  # warehouses run by a third-party logistics provider (3PL)
    "axes",  # login throttling and lockout
    "django_otp",  # two-factor sign-in (oms_site/two_factor.py)
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",  # Content-Security-Policy on every response
    "simple_history",  # who changed the configuration, when, from what to what
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "oms_site.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, the policy text built once
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # the console user behind each change
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "oms_site.middleware.StaffSessionTimeoutMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login
]

if not DEBUG:
    # Production serves the admin's static files from STATIC_ROOT (collectstatic).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "oms_site.urls"
WSGI_APPLICATION = "oms_site.wsgi.application"

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
                "oms_site.context_processors.branding",
                "oms_site.manual.links.procedure_on_page",  # a console page shows the procedure that governs it
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'oms.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the embedded worker writes;
    # IMMEDIATE transactions queue writers instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so that a real Celery worker started by a test can
    # share it; one per test process, so that parallel runs do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # PostgreSQL binds the parameters (psycopg's server-side binding), rather than psycopg pasting them into
    # the SQL: a statement's text is then the same whatever its values, so psycopg prepares it once its
    # connection has run it prepare_threshold times, and PostgreSQL plans it once per connection (the API's hot
    # reads rely on it: oms_core/sql.py). The whole test suite runs with it on PostgreSQL.
    _options.setdefault("server_side_binding", env.bool("PG_SERVER_SIDE_BINDING", default=True))
    _pool_mode = env.str("PG_POOL_MODE", default="session")
    if _pool_mode == "transaction":
        # Behind a pooler in transaction mode (PgBouncer's pool_mode = transaction) each transaction may run on
        # another server connection, so nothing may outlive one: no prepared statements, no cursor kept open
        # across transactions (QuerySet.iterator()), no startup options (random_page_cost is then set on the
        # database: ALTER DATABASE ... SET random_page_cost = 1.1).
        _options["prepare_threshold"] = None
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    elif _pool_mode == "session":
        # PostgreSQL's default random_page_cost (4) models spinning disks and makes
        # the planner walk big indexes where a few row lookups are cheaper. 1.1 is
        # the usual value for SSD/cloud storage.
        _options.setdefault("options", f"-c random_page_cost={env.float('PG_RANDOM_PAGE_COST', default=1.1)}")
        _options.setdefault("prepare_threshold", 5)
    else:
        raise ImproperlyConfigured(f"PG_POOL_MODE must be session or transaction, not {_pool_mode!r}.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "media/"

LOGIN_URL = "admin:login"

# --- Mail -----------------------------------------------------------------
# Embedded: every message becomes a file in var/mail/. Production: EMAIL_URL,
# e.g. smtp+tls://user:password@smtp.example.com:587
_email_url = env.str("EMAIL_URL", default=f"filemail://{VAR_DIR / 'mail'}")
_email = env.email_url_config(_email_url)
if _email.get("EMAIL_BACKEND") == "django.core.mail.backends.filebased.EmailBackend":
    # django-environ drops the leading slash of filemail:///abs/path; put it back.
    _path = _email.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
    if not os.path.isabs(_path):
        _path = "/" + _path if _email_url.startswith("filemail:///") else str(BASE_DIR / _path)
    _email["EMAIL_FILE_PATH"] = _path
vars().update(_email)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="OMS <orders@oms.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
OPS_EMAILS = env("OPS_EMAILS")

# --- Celery ---------------------------------------------------------------
# Embedded default: kombu's filesystem transport, so `make run` can start a
# real worker and beat with no broker server. Production: redis://...
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, fixed so that a worker survives a Redis restart under load (oms_site/celery.py).
    CELERY_BROKER_TRANSPORT = "oms_site.celery:RedisTransport"
# Workers ride out a broker outage of any length, at start-up too (systemd restarts them if they exit anyway).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task running when the broker connection drops finishes and acks once the broker is back; terminating it
# (Celery 6's default) could cut an email between SMTP's answer and the outbox row that records it.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Tests and benchmarks that start their own worker give it a queue of its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Email sending on a queue of its own (its own workers), so a slow SMTP server never delays routing or labels.
# Empty: everything shares the default queue (the embedded shape's one worker consumes it all).
NOTIFICATIONS_QUEUE = env.str("NOTIFICATIONS_QUEUE", default="")
CELERY_TASK_ROUTES = (
    {
        "notifications.tasks.send_messages": {"queue": NOTIFICATIONS_QUEUE},
        "notifications.tasks.send_due_messages": {"queue": NOTIFICATIONS_QUEUE},
    }
    if NOTIFICATIONS_QUEUE
    else {}
)
# Drains (routing received orders, sending due email) are woken through a flag in this Redis, so that a
# burst of commits queues one task, not one each (oms_core/wakeups.py). Not Redis: every commit publishes.
WAKEUP_REDIS_URL = env.str("WAKEUP_REDIS_URL", default=CELERY_BROKER_URL)
WAKEUP_FLAG_SECONDS = env.int("WAKEUP_FLAG_SECONDS", default=60)
# How long a woken drain waits for more of the same to arrive before it starts (a batch of that moment).
WAKEUP_DELAY_SECONDS = env.float("WAKEUP_DELAY_SECONDS", default=0.25)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Every periodic schedule, in one place. django-celery-beat copies these into
# the database at beat start-up, where operators can change them in the admin.
CELERY_BEAT_SCHEDULE = {
    "flag-late-orders": {
        "task": "orders.tasks.flag_late_orders",
        "schedule": 15 * 60,
    },
    # customers whose order will now miss its promised date hear it before the date passes (once per estimate)
    "sweep-delay-notices": {
        "task": "orders.tasks.sweep_delay_notices",
        "schedule": 15 * 60,
        "options": {"expire_seconds": 15 * 60},
    },
    # The sweeps that resume work a dead worker left (docs/operations/background-work.md): every 30 s, each
    # dropped when not started within that time (a backlog of sweeps would only repeat each other;
    # expire_seconds is django-celery-beat's name for a task's expires).
    "route-waiting-orders": {
        "task": "orders.tasks.route_waiting_orders",
        "schedule": 30,
        "options": {"expire_seconds": 30},
    },
    "sweep-label-batches": {
        "task": "shipping.tasks.sweep_label_batches",
        "schedule": 30,
        "options": {"expire_seconds": 30},
    },
    "sweep-import-jobs": {
        "task": "inventory.tasks.sweep_import_jobs",
        "schedule": 30,
        "options": {"expire_seconds": 30},
    },
    # promise accuracy: every lane's figures again over its window (each delivery refreshes its own lane too)
    "refresh-lanes": {
        "task": "shipping.tasks.refresh_lanes",
        "schedule": crontab(hour=5, minute=30),
    },
    "daily-inventory-check": {
        "task": "inventory.tasks.run_inventory_check",
        "schedule": crontab(hour=6, minute=0),
    },
    # notifications: retries, interrupted sends, rows whose task was lost
    "sweep-outbox": {
        "task": "notifications.tasks.sweep_outbox",
        "schedule": 30,
        "options": {"expire_seconds": 30},
    },
    # yesterday's journal to accounting; authorisations, captures and export batches whose task was lost
    "accounting-export": {
        "task": "orders.payments.tasks.export_journal",
        "schedule": crontab(hour=1, minute=0),
    },
    "sweep-payments": {
        "task": "orders.payments.tasks.sweep_payments",
        "schedule": 5 * 60,
    },
    # 3PL connections: messages due (retries with backoff, interrupted sends), inbound left unprocessed,
    # shipments still to release, releases past their acknowledgement deadline
    "sweep-partner-messages": {
        "task": "orders.partners.tasks.sweep_partner_messages",
        "schedule": 30,
        "options": {"expire_seconds": 30},
    },
    # 3PLs that exchange files over SFTP: their confirmations, snapshots, receipts and answers
    "poll-partner-file-drops": {
        "task": "orders.partners.tasks.poll_partner_file_drops",
        "schedule": env.int("PARTNER_POLL_SECONDS", default=60),
        "options": {"expire_seconds": 60},
    },
}

# --- Branding -------------------------------------------------------------
OMS_BRAND_NAME = env.str("OMS_BRAND_NAME", default="Northwind OMS")
OMS_BRAND_COLOR = env.str("OMS_BRAND_COLOR", default="#0f4c5c")
# A channel's logo is fetched by the OMS (the status page serves it): from public addresses only, unless this is
# on (development and tests, whose store runs on this machine). Off: loopback, private, link-local and reserved
# addresses are refused, after any redirect, by the address actually connected to.
OMS_LOGO_FETCH_PRIVATE = env.bool("OMS_LOGO_FETCH_PRIVATE", default=DEBUG)
ORDER_NUMBER_PREFIX = env.str("ORDER_NUMBER_PREFIX", default="SO-")
# Orders whose promised date falls within this many hours and that have not
# shipped are "at risk" on the console.
ORDER_AT_RISK_HOURS = env.int("ORDER_AT_RISK_HOURS", default=24)
# The time a channel says an order was placed is refused when it is further ahead of the OMS's clock than this
# (clocks drift a little), or longer ago than this: the API, the Shopify webhook.
ORDER_PLACED_AT_MAX_FUTURE_MINUTES = env.int("ORDER_PLACED_AT_MAX_FUTURE_MINUTES", default=10)
ORDER_PLACED_AT_MAX_AGE_DAYS = env.int("ORDER_PLACED_AT_MAX_AGE_DAYS", default=365)

# --- Inventory ------------------------------------------------------------
# Receiving stock enqueues this task (by name: inventory does not import orders).
INVENTORY_BACKORDER_FILL_TASK = "orders.tasks.fill_backorders"
# Approved count lines off by at least this many units are reported by the daily check.
INVENTORY_COUNT_VARIANCE_UNITS = env.int("INVENTORY_COUNT_VARIANCE_UNITS", default=5)
# Approving a count whose variances are worth more than this (units × unit cost, gains and losses
# alike, in ACCOUNTING_CURRENCY) needs the approver to tick "I have checked these variances".
CYCLE_COUNT_CONFIRM_VALUE = env.str("CYCLE_COUNT_CONFIRM_VALUE", default="500.00")
# Where links in emails point.
OMS_BASE_URL = env.str("OMS_BASE_URL", default="http://127.0.0.1:8000")
# The customer's order status page (the link in every email of an order): requests a minute from one client
# address (counted in the default cache; over it, 429).
ORDER_STATUS_PAGE_RATE_LIMIT = env.int("ORDER_STATUS_PAGE_RATE_LIMIT", default=30)
# The storefront snippet's delivery date (GET /api/v1/storefront/promise, publishable keys): requests a minute from
# one client address (counted in the default cache; over it, 429). A visitor's page asks once per product view.
STOREFRONT_PROMISE_RATE_LIMIT = env.int("STOREFRONT_PROMISE_RATE_LIMIT", default=60)
# /demo-store/: a store's product page showing the snippet against the demo channel; on in the embedded shape.
DEMO_STORE_ENABLED = env.bool("DEMO_STORE_ENABLED", default=DEBUG)

# --- Shipping -------------------------------------------------------------
# Carrier adapters by name; a vendor picks one. A real carrier's API is added here.
SHIPPING_CARRIER_ADAPTERS = {
    "table_rate": "shipping.carriers.table_rate.TableRateAdapter",
}
# Days carriers do not pick up or deliver, besides weekends: SHIPPING_HOLIDAYS=2026-12-25,2027-01-01
SHIPPING_HOLIDAYS = frozenset(env.list("SHIPPING_HOLIDAYS", cast=dt.date.fromisoformat, default=[]))
# A shipment heavier than this is packed into several parcels.
SHIPPING_MAX_PARCEL_KG = env.float("SHIPPING_MAX_PARCEL_KG", default=20.0)
# Rate cards are kept in memory this long by each process (quotes run at every checkout).
SHIPPING_RATE_CACHE_SECONDS = env.int("SHIPPING_RATE_CACHE_SECONDS", default=60)
# Batch label PDFs are rendered in chunks of this many labels, in parallel, then joined.
SHIPPING_LABEL_CHUNK_SIZE = env.int("SHIPPING_LABEL_CHUNK_SIZE", default=50)


# The margin guard: an order whose shipments cost us more than this share of its goods, or more than this
# multiple of what the customer paid for shipping (when they paid anything), is flagged "shipping cost at risk".
def _positive_decimal(name: str, default: str) -> Decimal:
    raw = env.str(name, default=default)
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise ImproperlyConfigured(f"{name} must be a number above 0, e.g. {default}; got {raw!r}.")
    return value


SHIPPING_COST_MAX_SHARE_OF_ORDER = _positive_decimal("SHIPPING_COST_MAX_SHARE_OF_ORDER", "0.25")
SHIPPING_COST_MAX_MULTIPLE_OF_PAID = _positive_decimal("SHIPPING_COST_MAX_MULTIPLE_OF_PAID", "3")
# True: a flagged shipment's label is not bought until an operations manager approves its cost.
SHIPPING_COST_GUARD_HOLDS_LABEL = env.bool("SHIPPING_COST_GUARD_HOLDS_LABEL", default=False)

# Landed-cost routing: a plan's cost is its labels' price + each warehouse's handling cost + this much for every
# shipment beyond the first (packing, a second box and label run, the customer's patience).
SHIPPING_EXTRA_SHIPMENT_COST = Decimal(env.str("SHIPPING_EXTRA_SHIPMENT_COST", default="3.00"))
# The date routing aims at for an order without a promised date, and the promise offers at checkout: this many
# business days after the order (counted from the day after it). Unset: no target, the least landed cost wins.
SHIPPING_PROMISE_TARGET_DAYS = env.int("SHIPPING_PROMISE_TARGET_DAYS", default=None)
# ...but not at any price: making that date may cost at most this much more than the cheapest plan (else the
# cheapest plan is promised, with its own date). An order whose channel promised a date is always aimed at it.
SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal(env.str("SHIPPING_PROMISE_TARGET_MAX_PREMIUM", default="5.00"))
# Promise accuracy: a lane (warehouse → 3-digit ZIP, service) with at least this many deliveries in the window
# is promised its learned transit days (the percentile below) instead of the rate card's.
SHIPPING_LANE_MIN_DELIVERIES = env.int("SHIPPING_LANE_MIN_DELIVERIES", default=20)
SHIPPING_LANE_PERCENTILE = env.int("SHIPPING_LANE_PERCENTILE", default=90)
SHIPPING_LANE_WINDOW_DAYS = env.int("SHIPPING_LANE_WINDOW_DAYS", default=180)
# The promise-accuracy page's goal: this share (percent) of deliveries on or before the promised date.
SHIPPING_PROMISE_HIT_GOAL = env.int("SHIPPING_PROMISE_HIT_GOAL", default=97)

# --- Returns -------------------------------------------------------------- # returns
# The return policy's defaults (the console's Return policy page overrides them once saved).
RETURNS_WINDOW_DAYS = env.int("RETURNS_WINDOW_DAYS", default=30)
# Per reason: restocking fee % of the goods' value, authorised without review, our error (shipping refunded).
RETURNS_REASONS = {
    "damaged": {"restocking_fee_percent": "0", "auto_authorise": True, "our_error": True},
    "wrong_item": {"restocking_fee_percent": "0", "auto_authorise": True, "our_error": True},
    "not_as_described": {"restocking_fee_percent": "0", "auto_authorise": False, "our_error": True},
    "no_longer_wanted": {"restocking_fee_percent": "15", "auto_authorise": False, "our_error": False},
    "arrived_late": {"restocking_fee_percent": "0", "auto_authorise": True, "our_error": True},
    "other": {"restocking_fee_percent": "0", "auto_authorise": False, "our_error": False},
}
RETURNS_NUMBER_PREFIX = env.str("RETURNS_NUMBER_PREFIX", default="RMA-")
# The return label link in the customer's email works this long (a signed URL, no login).
RETURNS_LABEL_LINK_DAYS = env.int("RETURNS_LABEL_LINK_DAYS", default=60)
# --- end returns ----------------------------------------------------------

# --- Warehouses run by a 3PL (orders.partners) -----------------------------
# Carriers of the messages each connection kind speaks.
PARTNER_TRANSPORTS = {
    "rest": "orders.partners.transports.rest.RestTransport",
    "csv_sftp": "orders.partners.transports.csv_sftp.CsvSftpTransport",
    "x12_sftp": "orders.partners.transports.x12_sftp.X12SftpTransport",
}
# File-drop connections: a private key file per connection code, read instead of the key kept (encrypted) on
# the connection, e.g. PARTNER_SFTP_KEY_FILES=acme=/run/secrets/acme_sftp_key,other=/run/secrets/other_key
PARTNER_SFTP_KEY_FILES = env.dict("PARTNER_SFTP_KEY_FILES", default={})
# Development and the demo: a file-drop connection's folders on this machine instead of its SFTP server, per
# connection code, e.g. PARTNER_DROP_FOLDERS=demo-3pl=/srv/drops/demo (in/, out/, processed/, failed/ inside).
PARTNER_DROP_FOLDERS = env.dict("PARTNER_DROP_FOLDERS", default={})
# Network timeout of one call to a partner, in seconds.
PARTNER_TIMEOUT_SECONDS = env.float("PARTNER_TIMEOUT_SECONDS", default=10.0)
# An outbound message is tried this many times in all, waiting base × 2^(n-1) seconds between tries,
# then it is dead (the console's dead letters: fix and resend).
PARTNER_MAX_ATTEMPTS = env.int("PARTNER_MAX_ATTEMPTS", default=8)
PARTNER_RETRY_BACKOFF_SECONDS = env.int("PARTNER_RETRY_BACKOFF_SECONDS", default=30)
# A send interrupted (a worker killed mid-call) is tried again after this lease.
PARTNER_SEND_LEASE_SECONDS = env.int("PARTNER_SEND_LEASE_SECONDS", default=120)
# Outbound messages of one connection sent over one sitting (one SFTP connection for a file drop), claimed
# and recorded in one transaction each.
PARTNER_SEND_BATCH_SIZE = env.int("PARTNER_SEND_BATCH_SIZE", default=50)
# A signed webhook whose timestamp is further than this from the OMS's clock is refused (a replay).
PARTNER_WEBHOOK_MAX_SKEW_SECONDS = env.int("PARTNER_WEBHOOK_MAX_SKEW_SECONDS", default=300)
# Units a 3PL confirms short: "reroute" takes them from the 3PL and routes them again (another warehouse, or
# a backorder); "backorder" leaves them reserved at the 3PL and releases them again as a new shipment.
PARTNER_SHORT_SHIPMENT = env.str("PARTNER_SHORT_SHIPMENT", default="reroute")
# A stock snapshot's difference of at most this many units (per SKU) is posted at once as an adjustment;
# a larger one becomes a submitted cycle count that waits for a manager's approval.
PARTNER_SNAPSHOT_AUTO_UNITS = env.int("PARTNER_SNAPSHOT_AUTO_UNITS", default=2)
# The daily inventory check: a 3PL with no snapshot applied for longer than this is stale (a finding), and
# twice as long an error; a last snapshot whose differences are worth at least PARTNER_SNAPSHOT_VARIANCE_VALUE
# (× the SKUs' unit cost, either way) is an error rather than a warning.
PARTNER_SNAPSHOT_MAX_AGE_HOURS = env.int("PARTNER_SNAPSHOT_MAX_AGE_HOURS", default=26)
PARTNER_SNAPSHOT_VARIANCE_VALUE = _positive_decimal("PARTNER_SNAPSHOT_VARIANCE_VALUE", "500.00")
# The demo's 3PL (docs/demo.md): the seed's connection "demo-3pl" points at 127.0.0.1:DEMO_3PL_PORT, where
# `runembedded` starts the simulated 3PL beside the web server when DEMO_3PL_SIMULATOR is on (the embedded
# shape's default; off in production). It ships each release after DEMO_3PL_SHIP_DELAY_SECONDS and sends a
# stock snapshot every DEMO_3PL_SNAPSHOT_SECONDS.
DEMO_3PL_PORT = env.int("DEMO_3PL_PORT", default=8701)
DEMO_3PL_SIMULATOR = env.bool("DEMO_3PL_SIMULATOR", default=DEBUG)
DEMO_3PL_SHIP_DELAY_SECONDS = env.float("DEMO_3PL_SHIP_DELAY_SECONDS", default=20.0)
DEMO_3PL_SNAPSHOT_SECONDS = env.float("DEMO_3PL_SNAPSHOT_SECONDS", default=300.0)
# What the demo 3PL speaks: "rest", or a file drop, "csv_sftp" or "x12_sftp", in the folder
# PARTNER_DROP_FOLDERS names for demo-3pl (var/demo-3pl-drop unless set), which the OMS's beat polls.
DEMO_3PL_TRANSPORT = env.str("DEMO_3PL_TRANSPORT", default="rest")
if DEMO_3PL_TRANSPORT not in ("rest", "csv_sftp", "x12_sftp"):
    raise ImproperlyConfigured(f"DEMO_3PL_TRANSPORT must be rest, csv_sftp or x12_sftp, not {DEMO_3PL_TRANSPORT!r}.")
if DEMO_3PL_TRANSPORT != "rest":
    PARTNER_DROP_FOLDERS.setdefault("demo-3pl", str(VAR_DIR / "demo-3pl-drop"))

# --- Payments and accounting (orders.payments) ----------------------------
# Payment gateways by code (Order.payment_gateway); a real provider's adapter is added here.
PAYMENT_GATEWAYS = {
    "manual": "orders.payments.gateways.manual.ManualGateway",
    "channel": "orders.payments.gateways.channel.ChannelGateway",
}
# The test_card sandbox (outcomes chosen by token, no money moves) is on only in development
# (DEBUG) or when PAYMENTS_TEST_CARD=true is set, e.g. on a staging site: never in production.
if env.bool("PAYMENTS_TEST_CARD", default=DEBUG):
    PAYMENT_GATEWAYS["test_card"] = "orders.payments.gateways.test_card.TestCardGateway"
# A gateway call that times out or errors is retried with the same idempotency key this many
# times in all, waiting base × 2^n seconds between tries; then ops are alerted (and an
# authorisation puts the order on hold).
PAYMENTS_MAX_ATTEMPTS = env.int("PAYMENTS_MAX_ATTEMPTS", default=5)
PAYMENTS_RETRY_BACKOFF_SECONDS = env.int("PAYMENTS_RETRY_BACKOFF_SECONDS", default=60)
# Write-offs are valued at the product's unit cost in this currency.
ACCOUNTING_CURRENCY = env.str("ACCOUNTING_CURRENCY", default="USD")
# The daily export: a CSV file per batch here, and (when a URL is set) a signed JSON POST.
ACCOUNTING_EXPORT_DIR = env.str("ACCOUNTING_EXPORT_DIR", default=str(VAR_DIR / "accounting"))
ACCOUNTING_EXPORT_URL = env.str("ACCOUNTING_EXPORT_URL", default="")
ACCOUNTING_EXPORT_SECRET = env.str("ACCOUNTING_EXPORT_SECRET", default="")
ACCOUNTING_EXPORT_TIMEOUT_SECONDS = env.int("ACCOUNTING_EXPORT_TIMEOUT_SECONDS", default=10)
ACCOUNTING_EXPORT_MAX_ATTEMPTS = env.int("ACCOUNTING_EXPORT_MAX_ATTEMPTS", default=6)

# --- Notifications (the outbox) --------------------------------------------
# Customer and ops emails go through notifications.Message rows, sent by
# Celery after commit over EMAIL_URL. See notifications/services/sending.py.
NOTIFICATIONS_FROM_EMAIL = env.str("NOTIFICATIONS_FROM_EMAIL", default=DEFAULT_FROM_EMAIL)
NOTIFICATIONS_REPLY_TO = env.str("NOTIFICATIONS_REPLY_TO", default="")
# Branding of every message (name and colour come from OMS_BRAND_*).
NOTIFICATIONS_BRAND = {
    "support_email": env.str("NOTIFICATIONS_SUPPORT_EMAIL", default=""),
    "website_url": env.str("NOTIFICATIONS_WEBSITE_URL", default=""),
    "logo_url": env.str("NOTIFICATIONS_LOGO_URL", default=""),
    "address": env.str("NOTIFICATIONS_POSTAL_ADDRESS", default=""),
}
# The domain of the Message-ID header (stable per message); default: DEFAULT_FROM_EMAIL's domain.
NOTIFICATIONS_MESSAGE_ID_DOMAIN = env.str("NOTIFICATIONS_MESSAGE_ID_DOMAIN", default="")
# Messages per send task, and the SMTP connections (threads) a task spreads them over.
NOTIFICATIONS_BATCH_SIZE = env.int("NOTIFICATIONS_BATCH_SIZE", default=100)
NOTIFICATIONS_SMTP_CONNECTIONS = env.int("NOTIFICATIONS_SMTP_CONNECTIONS", default=4)
# A worker keeps its SMTP connections open between tasks for this long (0: reconnect every task).
NOTIFICATIONS_SMTP_KEEPALIVE_SECONDS = env.int("NOTIFICATIONS_SMTP_KEEPALIVE_SECONDS", default=30)
# Tries before a message is marked failed (and ops alerted); waits double from the base, capped.
NOTIFICATIONS_MAX_ATTEMPTS = env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=8)
NOTIFICATIONS_RETRY_BACKOFF_SECONDS = env.int("NOTIFICATIONS_RETRY_BACKOFF_SECONDS", default=60)
NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS = env.int("NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS", default=3600)
# How long a worker owns the rows it claimed without renewing them (it does every quarter of it while it
# sends); after that the sweep treats it as dead.
NOTIFICATIONS_LEASE_SECONDS = env.int("NOTIFICATIONS_LEASE_SECONDS", default=20)
# A fresh row's own task gets this long before the sweep sends it instead.
NOTIFICATIONS_SWEEP_GRACE_SECONDS = env.int("NOTIFICATIONS_SWEEP_GRACE_SECONDS", default=20)
# The one message a dead worker was sending: send it again with the same
# Message-ID (true: never lost, receivers de-duplicate) or mark it failed for
# ops to decide (false: never twice).
NOTIFICATIONS_RESEND_INTERRUPTED = env.bool("NOTIFICATIONS_RESEND_INTERRUPTED", default=True)
# Backordered items: the new estimate when nothing better is known is the
# promised date or this many days from today, whichever is later.
NOTIFICATIONS_BACKORDER_LEAD_DAYS = env.int("NOTIFICATIONS_BACKORDER_LEAD_DAYS", default=14)
# Builds a preview snapshot from a real order (notifications does not import orders).
NOTIFICATIONS_PREVIEW_CONTEXT = "orders.services.notify.preview_context"

# --- Security -------------------------------------------------------------
# Logins: after LOGIN_FAILURE_LIMIT wrong passwords for one account (from anywhere), or from one address
# (for any account), further attempts are refused for LOGIN_LOCKOUT_MINUTES; a manager can unlock sooner in
# the console (Access attempts). Behind a proxy, AXES_IPWARE_PROXY_COUNT says how many proxies add
# X-Forwarded-For, so that the client's own address is the one counted.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "oms_site.middleware.locked_out"
AXES_VERBOSE = False
if env.int("AXES_IPWARE_PROXY_COUNT", default=0):
    AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT")
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
# Two-factor sign-in (TOTP, with recovery codes): required of superusers and these roles when enforced.
# The embedded shape (DEBUG on, `make run`) leaves it off so that the demo logins work with a password
# alone; production turns it on unless TWO_FACTOR_ENFORCED=false. Anyone may set it up from the user menu.
TWO_FACTOR_ENFORCED = env.bool("TWO_FACTOR_ENFORCED", default=not DEBUG)
TWO_FACTOR_REQUIRED_ROLES = env.list("TWO_FACTOR_REQUIRED_ROLES", default=["Operations manager"])
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default=OMS_BRAND_NAME)
# A staff session ends after this long without a request (and at once when the password changes:
# Django's session hash). Sessions of the channels' API do not exist (keys, not sessions).
STAFF_SESSION_IDLE_MINUTES = env.int("STAFF_SESSION_IDLE_MINUTES", default=8 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=7 * 24 * 3600)
# Content-Security-Policy on every response (django-csp). Scripts come only from our own static files (the
# console's pollers are files in oms_site/static/oms/); a library's inline script runs only with the
# response's nonce. Nothing comes from other sites but images over https (a channel's logo in an email
# preview). Inline style attributes are allowed: the console's templates use them, and they run no code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],  # the nonce: the date-range filters' own inline scripts carry it
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# A refused form (missing or stale CSRF token) gets the console's own page, like 403/404/500 (urls.py).
CSRF_FAILURE_VIEW = "oms_site.errors.csrf_failure"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # a line per sign-in otherwise
    },
}
