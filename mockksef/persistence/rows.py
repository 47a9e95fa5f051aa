"""Stored invoices as bytes, many at a time: the rows of ``invoices`` and ``invoice_chunks``.

A row is pickled as pickle itself would (``NEWOBJ`` of its class, then its slots
as a dict), so ``codec.loads`` reads it with no help; what differs is how the
slots are read when writing:

* straight from the slots, never through a property: a seeded invoice
  (``GeneratedInvoice``) computes ``invoice_hash``, ``invoice_size`` and its
  reference number on first read by rendering its document, and pickle's own
  way of reading slots (``getattr`` by name) rendered and hashed every seeded
  invoice at its first commit (a million renders for a million-row seeding);
  a value not worked out yet stays so, and is worked out on first read after
  a restart as before;
* without the shared deflate dictionary (``xml_dict``: stored once per form
  in ``dictionaries``) and with a seeded row's generator written as its id in
  ``generators`` (``generator_id``); the persister puts both back on load.

One C call (``attrgetter``) reads a row's slots: a chunk of 5 000 rows costs
about as much as pickling their plain values.
"""

from __future__ import annotations

import copyreg
import inspect
import io
import types
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from mockksef.invoicegen import GeneratedInvoice
from mockksef.persistence import codec
from mockksef.services.invoices.models import StoredInvoice

_newobj = copyreg.__newobj__  # type: ignore[attr-defined]


def _slot_names(kind: type) -> tuple[str, ...]:
    """Every slot of ``kind`` that holds data (not one a property of a subclass hides)."""
    names: list[str] = []
    for klass in reversed(kind.__mro__):
        for name in klass.__dict__.get("__slots__", ()):
            if name in names or name.startswith("__"):
                continue
            if isinstance(inspect.getattr_static(kind, name), types.MemberDescriptorType):
                names.append(name)
    return tuple(names)


class _Layout:
    """How one row class is read: its slot names and one getter for all of them."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.names = _slot_names(kind)
        self.get = attrgetter(*self.names)

    def state(self, row: Any) -> dict[str, Any]:
        try:
            return dict(zip(self.names, self.get(row), strict=True))
        except AttributeError:  # a slot never set: leave it unset on load too
            state = {}
            for name in self.names:
                try:
                    state[name] = getattr(row, name)
                except AttributeError:
                    pass
            return state


_LAYOUTS: dict[type, _Layout] = {}


def _layout(kind: type) -> _Layout:
    layout = _LAYOUTS.get(kind)
    if layout is None:
        layout = _LAYOUTS[kind] = _Layout(kind)
    return layout


class _RowPickler(codec.PlainPickler):
    def __init__(self, file: io.BytesIO, generator_id: Callable[[Any], int]) -> None:
        super().__init__(file, protocol=codec.PROTOCOL)
        self._generator_id = generator_id

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is StoredInvoice or kind is GeneratedInvoice:
            state = _layout(kind).state(obj)
            state["xml_dict"] = None
            if kind is GeneratedInvoice:
                state["generator"] = self._generator_id(obj.generator)
            return _newobj, (kind,), (None, state)
        return super().reducer_override(obj)


def dumps_rows(
    rows: Sequence[StoredInvoice] | StoredInvoice, generator_id: Callable[[Any], int]
) -> bytes:
    """One row, or a list of rows, as bytes ``codec.loads`` reads back."""
    buffer = io.BytesIO()
    _RowPickler(buffer, generator_id).dump(rows)
    return buffer.getvalue()
