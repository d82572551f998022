"""Frames on the pipe between the local executor and its workers."""

from __future__ import annotations

import os
import threading

import pytest

from retune.executors import wire


def test_messages_arrive_whole_and_in_order() -> None:
    read_fd, write_fd = os.pipe()
    reader = wire.Reader(read_fd)
    try:
        wire.send(write_fd, ("run", {"calls": [{"x": 1}]}))
        wire.send(write_fd, ("blob_put", "values/k", b"\x00" * 10))

        assert reader.recv() == ("run", {"calls": [{"x": 1}]})
        assert reader.pending()
        assert reader.recv() == ("blob_put", "values/k", b"\x00" * 10)
        assert not reader.pending()
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_frame_larger_than_the_pipe_buffer_gets_through() -> None:
    read_fd, write_fd = os.pipe()
    payload = os.urandom(3 * 2**20)
    writer = threading.Thread(target=wire.send, args=(write_fd, ("blob", payload)))
    writer.start()
    try:
        assert wire.Reader(read_fd).recv() == ("blob", payload)
    finally:
        writer.join()
        os.close(read_fd)
        os.close(write_fd)


def test_a_closed_pipe_is_end_of_file() -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    try:
        with pytest.raises(EOFError):
            wire.Reader(read_fd).recv()
    finally:
        os.close(read_fd)
