"""An upstream's stderr reaches the log line by line, within a line cap and a byte budget."""

from __future__ import annotations

import logging

import pytest

from inherence_proxy_core._proc_stderr import StderrRelay


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def logger():
    return logging.getLogger("test.upstream.stderr")


def messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_lines_are_logged_one_by_one_across_chunks(caplog, logger):
    caplog.set_level(logging.INFO, logger=logger.name)
    relay = StderrRelay(logger, "fs")
    relay.feed(b"first li")
    relay.feed(b"ne\nsecond\r\nthi")
    relay.close()
    assert messages(caplog) == [
        "upstream fs stderr: first line",
        "upstream fs stderr: second",
        "upstream fs stderr: thi",
    ]


def test_long_line_is_cut_and_says_how_much(caplog, logger):
    caplog.set_level(logging.INFO, logger=logger.name)
    relay = StderrRelay(logger, "fs", max_line=10)
    relay.feed(b"0123456789" + b"x" * 25 + b"\n")
    relay.close()
    assert messages(caplog) == ["upstream fs stderr: 0123456789 ... [25 bytes cut]"]


def test_flood_is_dropped_and_counted_then_lines_flow_again(caplog, logger):
    caplog.set_level(logging.INFO, logger=logger.name)
    clock = Clock()
    relay = StderrRelay(logger, "fs", burst_bytes=100, bytes_per_second=10, clock=clock)
    relay.feed(b"a" * 59 + b"\n")  # 60 of 100
    relay.feed(b"b" * 59 + b"\n")  # does not fit: dropped
    relay.feed(b"c" * 9 + b"\n")  # fits (10 of the 40 left)
    assert relay.dropped_bytes == 60
    clock.now = 100.0
    relay.feed(b"d" * 59 + b"\n")
    relay.feed(b"e" * 59 + b"\n")  # dropped
    relay.close()
    assert messages(caplog) == [
        "upstream fs stderr: " + "a" * 59,
        "upstream fs stderr: ... 60 bytes dropped",
        "upstream fs stderr: " + "c" * 9,
        "upstream fs stderr: " + "d" * 59,
        "upstream fs stderr: ... 60 bytes dropped",
    ]


def test_invalid_utf8_is_replaced_not_fatal(caplog, logger):
    caplog.set_level(logging.INFO, logger=logger.name)
    relay = StderrRelay(logger, "fs")
    relay.feed(b"bad \xff byte\n")
    relay.close()
    assert messages(caplog) == ["upstream fs stderr: bad \ufffd byte"]
