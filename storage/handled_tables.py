"""The handled updates of the repository: which Telegram updates were already handled.

The mark is written in the same transaction as what the update changed, so a redelivered
update is skipped exactly when its effects are stored. It is an index over a table rather
than a set of its own because a transaction that is undone must take its mark along, and
indexes are undone with the documents. `storage.documents.DocumentRepository` mixes this in
and calls `_open_handled`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from storage.engine import DocumentStore

# How many handled update ids are remembered across restarts.
HANDLED_KEPT = 5000


def _update_id(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["u"]]


class HandledTables:
    """Update ids that were handled, the latest `HANDLED_KEPT` or more of them."""

    _store: DocumentStore

    def _open_handled(self) -> None:
        self._handled = self._store.table("handled")
        (self._handled_ids,) = self._handled.index(_update_id)
        self._last_handled_doc = self._handled.last_id()

    def _trim_handled(self) -> None:
        """Forget all but the latest marks, if there are many. Called once every table is
        open: it writes, and a write may start a compaction, which keeps with the snapshot
        only the indexes registered by then."""
        if len(self._handled) > 2 * HANDLED_KEPT:
            # Telegram redelivers only the latest unconfirmed updates; older marks can go.
            self._handled.delete(*self._handled.ids()[:-HANDLED_KEPT])

    def was_handled(self, update_id: int) -> bool:
        return bool(self._handled_ids.ids(update_id))

    def mark_handled(self, update_id: int) -> None:
        """Remember durably that an update was handled, so a redelivery is skipped."""
        if self.was_handled(update_id):
            return
        self._last_handled_doc += 1
        self._handled.put(self._last_handled_doc, {"u": update_id})
