"""Event ids from the buffered source are proper, distinct version-4 UUIDs, also across a fork."""

from __future__ import annotations

import os
import uuid

from practice_sync_common.ids import uuid4


def test_ids_are_version_4_and_distinct() -> None:
    ids = [uuid4() for _ in range(5000)]  # crosses many buffer refills
    assert len(set(ids)) == len(ids)
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    uuid4()  # the parent's buffer now holds unused ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, uuid4().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    assert child != uuid4()
