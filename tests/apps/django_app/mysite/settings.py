"""Settings as an app using provision writes them: DATABASES from DATABASE_URL in provision's .env.

The URL is parsed with the standard library (no dj-database-url): mysql:// and
mysql+pymysql:// both mean Django's MySQL backend, here over PyMySQL.
"""
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pymysql
from dotenv import load_dotenv

pymysql.install_as_MySQLdb()  # Django's MySQL backend over PyMySQL (mysqlclient needs a C toolchain)

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")  # a DATABASE_URL already in the environment wins, as with any .env

url = urlsplit(os.environ["DATABASE_URL"])
if url.scheme not in ("mysql", "mysql+pymysql"):
    raise RuntimeError(f"DATABASE_URL must be a mysql:// URL, not {url.scheme}://")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": unquote(url.path.lstrip("/")),
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname,
        "PORT": url.port or 3306,
        "OPTIONS": dict(parse_qsl(url.query)),  # charset=utf8mb4
    }
}

SECRET_KEY = "provision-tests-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "notes"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
