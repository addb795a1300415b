import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests import the shared fixture tables

import pytest


@pytest.fixture
def feed_server():
    from feeds import FeedServer

    with FeedServer() as server:
        yield server
