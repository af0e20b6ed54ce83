import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = Path(__file__).resolve().parent / "data"


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread (and CI's two cores are shared); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def report_world(tmp_path_factory):
    """(work dir, expand out dir) of tests/report_fixtures.py, shared by the report tests (one torch thread)."""
    import torch

    from tests.report_fixtures import build_report_world

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return build_report_world(tmp_path_factory.mktemp("report"))
    finally:
        torch.set_num_threads(before)
