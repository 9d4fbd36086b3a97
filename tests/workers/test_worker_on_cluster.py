"""A worker whose store is on a Redis Cluster keeps arq's queue on a standalone Redis (HOTSTORE_ARQ_REDIS_URL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hotstore import InvalidInput, Settings
from tests.support.redis_server import RedisServer
from workers.settings import arq_redis_url

pytestmark = pytest.mark.cluster


def test_arq_on_the_cluster_itself_is_refused_with_the_setting_to_use(redis_cluster_url: str) -> None:
    with pytest.raises(InvalidInput, match="HOTSTORE_ARQ_REDIS_URL"):
        arq_redis_url(Settings(redis_url=redis_cluster_url))


def test_arq_on_a_standalone_redis_beside_the_cluster_is_used(
    redis_cluster_url: str, private_redis: Callable[..., RedisServer]
) -> None:
    standalone = private_redis()
    assert arq_redis_url(Settings(redis_url=redis_cluster_url, arq_redis_url=standalone.url)) == standalone.url
