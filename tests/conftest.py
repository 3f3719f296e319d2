import os
import secrets
from pathlib import Path

import pytest

from emostudio.db.repository import Repository
from emostudio.db.session import open_database
from emostudio.testing import temp_repository

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# A PostgreSQL URL whose user may create databases, e.g. postgresql+psycopg://emo:emo@127.0.0.1/postgres.
# .ci/run starts a server and sets it (with EMOSTUDIO_REQUIRE_POSTGRES=1, so CI never skips these).
POSTGRES = os.environ.get("EMOSTUDIO_TEST_POSTGRES")


@pytest.fixture
def repo(tmp_path):
    return temp_repository(tmp_path)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not present at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


def _postgres_database():
    """A fresh, empty PostgreSQL database: (its URL, a function that drops it)."""
    if not POSTGRES:
        if os.environ.get("EMOSTUDIO_REQUIRE_POSTGRES"):
            pytest.fail("EMOSTUDIO_TEST_POSTGRES is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip("no PostgreSQL server (set EMOSTUDIO_TEST_POSTGRES to run these against one)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"emostudio_test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The database URL of each backend the studio supports, fresh for every test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'emostudio.db'}"
        return
    url, drop = _postgres_database()
    yield url
    drop()


@pytest.fixture
def any_repo(db_url, tmp_path):
    """A migrated repository on SQLite, and again on PostgreSQL."""
    repository = Repository(open_database(db_url), arrays_dir=tmp_path / "arrays")
    yield repository
    repository.engine.dispose()
