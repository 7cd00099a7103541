"""The server-sent events parser on its own: the event-stream format, however the bytes are cut."""

from __future__ import annotations

from artagent_openai.sse import EventParser, ServerSentEvent


def parse(*parts: bytes) -> list[ServerSentEvent]:
    parser = EventParser()
    return [event for part in parts for event in parser.feed(part)]


def every_cut(stream: bytes) -> list[list[ServerSentEvent]]:
    """What the parser makes of ``stream`` cut in two at each place, and fed byte by byte."""
    results = [parse(stream[:at], stream[at:]) for at in range(len(stream) + 1)]
    return [*results, parse(*(stream[at : at + 1] for at in range(len(stream))))]


def test_each_blank_line_ends_an_event() -> None:
    assert parse(b'data: {"a":1}\n\ndata: {"b":2}\n\n') == [
        ServerSentEvent("message", b'{"a":1}'),
        ServerSentEvent("message", b'{"b":2}'),
    ]


def test_an_event_comes_out_as_soon_as_its_blank_line_arrives() -> None:
    parser = EventParser()
    assert parser.feed(b"data: one\n") == []
    assert parser.feed(b"\ndata: tw") == [ServerSentEvent("message", b"one")]
    assert parser.feed(b"o\n\n") == [ServerSentEvent("message", b"two")]


def test_data_lines_of_one_event_are_joined_with_newlines() -> None:
    assert parse(b'data: {"text":\ndata:  "hi"}\n\n') == [ServerSentEvent("message", b'{"text":\n "hi"}')]


def test_comments_ids_retries_and_unknown_fields_are_skipped() -> None:
    stream = b": keep-alive\n\n:\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n: ping\n\n"
    assert parse(stream) == [ServerSentEvent("message", b"x")]


def test_an_event_line_names_the_event_and_only_that_one() -> None:
    stream = b'event: error\ndata: {"error":{}}\n\ndata: next\n\nevent: lonely\n\ndata: last\n\n'
    assert parse(stream) == [
        ServerSentEvent("error", b'{"error":{}}'),
        ServerSentEvent("message", b"next"),
        ServerSentEvent("message", b"last"),
    ]


def test_a_field_without_colon_or_space_follows_the_standard() -> None:
    assert parse(b"data\n\ndata:x\n\ndata:  two spaces\n\n") == [
        ServerSentEvent("message", b""),
        ServerSentEvent("message", b"x"),
        ServerSentEvent("message", b" two spaces"),
    ]


def test_crlf_and_cr_line_ends_wherever_the_bytes_are_cut() -> None:
    expected = [ServerSentEvent("message", b"a"), ServerSentEvent("message", b"b\nc")]
    for stream in (b"data: a\r\n\r\ndata: b\r\ndata: c\r\n\r\n", b"data: a\r\rdata: b\rdata: c\r\r"):
        for events in every_cut(stream):
            assert events == expected, stream


def test_an_event_the_stream_ends_before_its_blank_line_is_dropped() -> None:
    assert parse(b"data: whole\n\ndata: cut short\n") == [ServerSentEvent("message", b"whole")]


def test_utf8_cut_inside_a_character_comes_out_whole() -> None:
    stream = 'data: {"text":"café ✓"}\n\n'.encode()
    for events in every_cut(stream):
        assert events == [ServerSentEvent("message", '{"text":"café ✓"}'.encode())]
