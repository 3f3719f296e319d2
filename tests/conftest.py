from pathlib import Path

import pytest

from emostudio.testing import temp_repository

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def repo(tmp_path):
    return temp_repository(tmp_path)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not present at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA
