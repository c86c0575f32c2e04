"""Django settings for shop."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "django-insecure-3k!x9#q2@w8z$m4r&t7y^u1i*o5p0a6s"
DEBUG = False
ALLOWED_HOSTS = ["shop.example.com"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "shop",
        "PASSWORD": "hunter2",
        "HOST": "db.example.com",
    },
    "replica": {
        "NAME": "shop",
        "PASSWORD": os.environ["REPLICA_PASSWORD"],
    },
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
PASSWORD_RESET_TIMEOUT = 259200
EMAIL_HOST_USER = "mailer"
EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
# EMAIL_HOST_PASSWORD = "old-one"
CACHE_TOKEN = f"{BASE_DIR}/token"
bypass_cache = "yes-please"
STRIPE_API_KEY: str = "sk_live_51HshopExampleKey00000000000"
SMTP_PASSWORD = "x7Kq9#mZ2vLw8RtP4nBy6jHd"
if SMTP_PASSWORD == "changeme":
    raise SystemExit("set the password")
