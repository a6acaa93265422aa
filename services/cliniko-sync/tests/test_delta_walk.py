"""DeltaWalk on its own: where the next delta must start after a walk the list shifted under."""

from __future__ import annotations

from practice_sync_cliniko_sync.service.delta_walk import DeltaWalk


def page(*records: tuple[str, str]) -> list[dict[str, str]]:
    return [{"id": i, "updated_at": at} for i, at in records]


def test_a_walk_without_a_record_read_twice_has_no_floor() -> None:
    walk = DeltaWalk()
    walk.read(page(("1", "T01"), ("2", "T02")))
    walk.read(page(("3", "T03"), ("4", "T04")))
    walk.read(page())
    assert walk.floor is None


def test_a_record_read_again_sets_the_floor_to_its_first_page_newest() -> None:
    walk = DeltaWalk()
    walk.read(page(("1", "T01"), ("2", "T02")))
    walk.read(page(("3", "T03"), ("4", "T04")))  # "2" changes now: "5" slides onto this page, unread
    walk.read(page(("6", "T06"), ("2", "T09")))
    assert walk.floor == "T02"  # "5" (T05 ≥ T02) is read again by a delta starting here
    walk.read(page(("3", "T10")))  # another, from a later page: the lowest floor stands
    assert walk.floor == "T02"
