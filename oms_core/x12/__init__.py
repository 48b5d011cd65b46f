"""X12 EDI for warehouses run by a third-party logistics provider: read and write 940, 945, 846, 944 and 997.

The reader takes the separators from the ISA segment (fixed width, 106
characters: the element separator is its 4th character, the component
separator its 105th, the segment terminator its 106th; in 005010 ISA11 is the
repetition separator), tolerates CR/LF after each terminator, and checks the
envelope: ISA13 = IEA02, IEA01 = the number of groups, GS06 = GE02, GE01 =
the number of sets, ST02 = SE02, SE01 = the number of segments of the set.
A problem raises ``X12Error`` naming the segment's position in the file (1 is
the ISA), its id and the element (``segment 14 (SE): SE01 says 9 segments,
the set has 8``).

The writer builds an interchange from typed documents (``ShippingOrder`` 940,
``ShippingAdvice`` 945, ``InventoryAdvice`` 846, ``StockReceipt`` 944,
``FunctionalAcknowledgement`` 997) with ISA/GS/ST envelopes whose control
numbers come from the caller (``next_control_number(kind)``), so that the
caller can keep them unique in its database. Every element written is checked
against the same element table the reader uses: a value too long, a
separator inside a value or a character outside ASCII is refused, naming the
segment and the element, before anything is sent.

``acknowledge`` answers an inbound interchange with one 997 per functional
group: a set with a syntax error is rejected (AK5 R, with AK3/AK4 naming the
segment and element), the good sets of the same group are accepted.

Versions 004010 and 005010 (GS08; ISA12 00401 / 00501) are read and
written; the partner's version is chosen in ``TradingPartner``. The segments
and elements used are listed in docs/reference/x12.md. The element numbers in
the element table (``syntax.SEGMENTS``) are those of the X12 data element dictionary (they are what
AK402 reports).

The package: ``syntax`` (separators, segments, the element table, error codes), ``grammar`` (each set's
segments in order, and checking a set), ``documents`` (the typed documents), ``envelope`` (writing and
reading interchanges), ``acknowledgement`` (the 997). Apps import from ``oms_core.x12``.
"""

from oms_core.x12.acknowledgement import acknowledge
from oms_core.x12.documents import (
    DOCUMENT_TYPES,
    FUNCTIONAL_IDS,
    Document,
    FunctionalAcknowledgement,
    InventoryAdvice,
    InventoryItem,
    InventoryQuantity,
    OrderLine,
    Party,
    ReceivedLine,
    SetAcknowledgement,
    ShippedLine,
    ShippedPackage,
    ShippingAdvice,
    ShippingOrder,
    StockReceipt,
)
from oms_core.x12.envelope import (
    ControlNumberAllocator,
    CounterControlNumbers,
    FunctionalGroup,
    Interchange,
    NextControlNumber,
    TradingPartner,
    TransactionSet,
    build_interchange,
    parse_document,
    read_documents,
    read_interchange,
    read_interchanges,
    write_interchange,
)
from oms_core.x12.grammar import GRAMMARS, check_set
from oms_core.x12.syntax import *  # noqa: F403  (the error codes, separators, segments and value helpers)
from oms_core.x12.syntax import __all__ as _syntax_names

__all__ = [
    *_syntax_names,
    "DOCUMENT_TYPES",
    "FUNCTIONAL_IDS",
    "GRAMMARS",
    "ControlNumberAllocator",
    "CounterControlNumbers",
    "Document",
    "FunctionalAcknowledgement",
    "FunctionalGroup",
    "Interchange",
    "InventoryAdvice",
    "InventoryItem",
    "InventoryQuantity",
    "NextControlNumber",
    "OrderLine",
    "Party",
    "ReceivedLine",
    "SetAcknowledgement",
    "ShippedLine",
    "ShippedPackage",
    "ShippingAdvice",
    "ShippingOrder",
    "StockReceipt",
    "TradingPartner",
    "TransactionSet",
    "acknowledge",
    "build_interchange",
    "check_set",
    "parse_document",
    "read_documents",
    "read_interchange",
    "read_interchanges",
    "write_interchange",
]
