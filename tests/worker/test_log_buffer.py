"""The bounded, offset-tracking buffer of output waiting to be shipped."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from jobrunner.worker.runner import LogBuffer


MARKER = re.compile(
    r"\n\[jobrunner-worker: (\d+) bytes of output dropped here: "
    r"the log was too big to keep\]\n"
)


def test_take_and_acknowledge_move_the_offset():
    buffer = LogBuffer(max_bytes=1024)
    buffer.append("hello\n")

    offset, text = buffer.take(100)
    buffer.acknowledge(offset + len(text))

    assert (offset, text) == (0, "hello\n")
    assert buffer.server_length == 6
    assert buffer.take(100) is None


def test_only_one_chunk_is_in_flight():
    buffer = LogBuffer()
    buffer.append("a" * 10)

    assert buffer.take(4) == (0, "aaaa")
    assert buffer.take(4) is None
    buffer.release()
    assert buffer.take(4) == (0, "aaaa")


def test_chunks_end_on_character_boundaries():
    buffer = LogBuffer()
    buffer.append("ab€cd")  # the euro sign is three bytes

    offset, text = buffer.take(4)  # would cut the euro sign
    buffer.acknowledge(len(text.encode()))

    assert text == "ab"
    assert buffer.take(100) == (2, "€cd")


def test_offsets_count_utf8_bytes():
    buffer = LogBuffer()
    buffer.append("€€")
    _, text = buffer.take(100)

    buffer.acknowledge(6)

    assert buffer.server_length == 6
    assert buffer.take(100) is None


def test_nul_characters_are_replaced():
    buffer = LogBuffer()
    buffer.append("a\x00b")

    assert buffer.text() == "a\ufffdb"


def test_a_416_saying_the_chunk_arrived_acknowledges_it():
    buffer = LogBuffer()
    buffer.append("first\nsecond\n")
    buffer.take(6)

    # The answer to the first try was lost; the retry got 416 with length 6.
    buffer.acknowledge(6)

    assert buffer.take(100) == (6, "second\n")


def test_a_server_that_lost_output_gets_a_gap_note():
    buffer = LogBuffer()
    buffer.append("0123456789")
    buffer.take(10)
    buffer.acknowledge(10)
    buffer.append("more\n")

    buffer.note_gap(4)

    offset, text = buffer.take(1000)
    assert offset == 4
    assert "6 bytes of output were lost" in text
    assert text.endswith("more\n")


def test_overflow_keeps_the_tail_and_says_how_much_was_dropped():
    buffer = LogBuffer(max_bytes=2000)

    for n in range(1000):
        buffer.append(f"line {n}\n")

    text = buffer.text()
    assert len(text.encode()) <= 2000 + 200
    assert text.endswith("line 999\n")
    markers = MARKER.findall(text)
    assert len(markers) == 1
    assert int(markers[0]) == buffer.dropped_bytes
    assert buffer.total_bytes == sum(len(f"line {n}\n") for n in range(1000))
    kept = MARKER.sub("", text)
    assert buffer.dropped_bytes + len(kept.encode()) == buffer.total_bytes


def test_overflow_never_drops_the_chunk_in_flight():
    buffer = LogBuffer(max_bytes=2048)
    buffer.append("A" * 1000)
    offset, in_flight = buffer.take(1000)

    buffer.append("B" * 3000)
    buffer.acknowledge(1000)

    rest = buffer.text()
    assert in_flight == "A" * 1000
    assert MARKER.match(rest)
    assert rest.endswith("B" * 700)
    assert len(rest.encode()) <= 2048


def test_a_sent_marker_is_not_merged_with_later_drops():
    buffer = LogBuffer(max_bytes=1024)
    buffer.append("x" * 3000)
    _, first = buffer.take(2000)
    buffer.acknowledge(len(first.encode()))

    buffer.append("y" * 3000)

    assert len(MARKER.findall(first)) == 1
    assert len(MARKER.findall(buffer.text())) == 1


def test_a_marker_in_a_chunk_that_did_not_arrive_stays_a_marker():
    buffer = LogBuffer(max_bytes=2000)
    buffer.append("a" * 3000)
    _, first = buffer.take(1024)
    buffer.release()

    buffer.append("b" * 3000)

    text = buffer.text()
    assert len(MARKER.findall(first)) == 1
    assert MARKER.findall(text) == [str(buffer.dropped_bytes)]
    assert len(MARKER.sub("", text)) + buffer.dropped_bytes == 6000


def _simulate(max_bytes, chunk, steps):
    """Drive a buffer with appends and shipments, like the reader and the
    shipper do, against a server that may lose answers; return
    (what the server holds, everything appended, buffer)."""
    buffer = LogBuffer(max_bytes=max_bytes)
    server = bytearray()
    written = []
    for kind, value in steps:
        if kind == "append":
            buffer.append(value)
            written.append(value)
            continue
        taken = buffer.take(chunk)
        if taken is None:
            continue
        offset, text = taken
        if kind == "failed":  # the request never arrived
            buffer.release()
            continue
        if kind == "failed-while-writing":  # the script wrote on meanwhile
            buffer.append("w" * 700)
            written.append("w" * 700)
            buffer.release()
            continue
        assert offset == len(server)
        server += text.encode()
        # "lost-answer": the answer was lost; the retry gets a 416 carrying
        # the server's length. Either way the buffer learns that length.
        buffer.acknowledge(len(server))
    while (taken := buffer.take(chunk)) is not None:
        offset, text = taken
        assert offset == len(server)
        server += text.encode()
        buffer.acknowledge(len(server))
    return server.decode(), "".join(written), buffer


steps_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.text(max_size=300)),
        st.tuples(
            st.sampled_from(["ship", "lost-answer", "failed", "failed-while-writing"]),
            st.none(),
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps_strategy)
def test_without_overflow_the_server_gets_everything_exactly_once(steps):
    server, written, buffer = _simulate(1 << 20, 1024, steps)

    assert server == written.replace("\x00", "\ufffd")
    assert buffer.server_length == len(server.encode())


@settings(max_examples=300, deadline=None)
@given(steps=steps_strategy, max_bytes=st.integers(1024, 3000))
def test_with_overflow_nothing_is_doubled_and_drops_are_counted(steps, max_bytes):
    server, written, buffer = _simulate(max_bytes, 1024, steps)
    written = written.replace("\x00", "\ufffd")

    kept = MARKER.sub("", server)
    dropped = sum(int(n) for n in MARKER.findall(server))
    assert dropped == buffer.dropped_bytes
    assert len(kept.encode()) + dropped == len(written.encode())
    # What survives is the output in order, with pieces cut out: the last
    # piece is always kept.
    pieces = MARKER.split(server)[::2]
    assert written.endswith(pieces[-1])
    position = 0
    for piece in pieces:
        found = written.find(piece, position)
        assert found >= 0
        position = found + len(piece)
