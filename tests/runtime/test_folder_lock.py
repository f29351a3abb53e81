"""A run folder's lock is its run's alone: a process forked while the run held it (the
diagnostics' helper, a composer) does not keep the folder claimed once the run lets it go."""

from __future__ import annotations

import multiprocessing
import os
import signal

from initlab.runtime import folder_lock


def _wait(conn) -> None:
    conn.send("started")
    conn.recv()  # until the test lets it end


def test_a_forked_child_does_not_keep_the_folder_locked(tmp_path):
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    with folder_lock.hold(tmp_path):
        child = context.Process(target=_wait, args=(child_end,))
        child.start()
        assert parent_end.recv() == "started"
        assert folder_lock.is_held(tmp_path)
    try:
        assert child.is_alive()
        assert not folder_lock.is_held(tmp_path)  # the run let it go; the child lives on
        with folder_lock.hold(tmp_path):  # and another run may take it
            assert folder_lock.is_held(tmp_path)
    finally:
        parent_end.send(None)
        child.join(timeout=30)
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)


def test_a_claimed_folder_is_not_kept_by_a_child_either(tmp_path):
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    folder_lock.claim(tmp_path)
    child = context.Process(target=_wait, args=(child_end,))
    child.start()
    assert parent_end.recv() == "started"
    try:
        with folder_lock.hold(tmp_path):  # takes over the claim
            assert folder_lock.is_held(tmp_path)
        assert not folder_lock.is_held(tmp_path)
    finally:
        parent_end.send(None)
        child.join(timeout=30)
