"""Which orgs a reconcile round between full rounds takes on (the rule, without I/O)."""

from __future__ import annotations

from practice_sync_clio_gateway.tasks.reconcile import due


def test_a_reconnected_org_is_taken_on_again_at_once() -> None:
    done: set[str] = set()
    assert due(done, ["law-a", "law-b"]) == ["law-a", "law-b"]
    assert due(done, ["law-a", "law-b"]) == []  # already reconciled: left to the full rounds
    # law-a's grant is revoked: credentials stops listing it until someone reconnects it.
    assert due(done, ["law-b"]) == []
    # Reconnected: reconciled now, not at the next full round (its last try failed on the dead grant).
    assert due(done, ["law-a", "law-b", "law-c"]) == ["law-a", "law-c"]
    assert done == {"law-a", "law-b", "law-c"}
