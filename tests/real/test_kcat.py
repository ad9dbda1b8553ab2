"""kcat (Debian's package) against `eddy serve`: produce from stdin, consume to stdout."""

import pytest

from clients import kcat_consume, kcat_path, kcat_produce, order_problem, records
from conftest import topic_name

pytestmark = pytest.mark.skipif(kcat_path() is None,
                                reason="kcat is not installed (apt-get install kcat)")


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kcat_produce_consume(serve, codec):
    topic = topic_name(f"kcat-{codec or 'none'}")
    first, second = records(100, "a"), records(50, "b")
    kcat_produce(serve.bootstrap, topic, 0, first, codec)
    kcat_produce(serve.bootstrap, topic, 0, second, codec)
    sent = first + second
    rows = kcat_consume(serve.bootstrap, topic, 0, len(sent))
    offsets = [o for o, _ in rows]
    assert rows == list(enumerate(sent)), (
        order_problem("read back", sent, [v for _, v in rows])
        or f"offsets are not 0, 1, …: {offsets[:20]}")
