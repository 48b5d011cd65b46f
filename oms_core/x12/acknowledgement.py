"""The 997 for every inbound functional group: bad sets rejected with AK3/AK4, good sets accepted."""

from __future__ import annotations

from dataclasses import replace

from oms_core.x12.documents import FUNCTIONAL_IDS, FunctionalAcknowledgement, SetAcknowledgement
from oms_core.x12.envelope import FunctionalGroup, Interchange, TransactionSet, read_interchange
from oms_core.x12.grammar import GRAMMARS, check_set
from oms_core.x12.syntax import GROUP_NOT_SUPPORTED, SET_NOT_SUPPORTED, SET_SEGMENTS_IN_ERROR, SegmentError

# --- the 997 ----------------------------------------------------------------------------------------


def acknowledge(interchange: Interchange | str | bytes) -> list[FunctionalAcknowledgement]:
    """One 997 for every functional group of an inbound interchange (text is read leniently first).

    A set with an envelope error (SE count, SE02, no SE) or a syntax error in its segments is rejected (AK5 R,
    with AK3/AK4 naming each segment and element in error); the other sets of its group are accepted. The
    group is A (all accepted), P (some) or R (none, or its own envelope is wrong: GE count or control
    number, no GE, unknown version). 997 groups are never acknowledged. Send the 997s back to the partner
    with ``build_interchange`` and the partner's ``TradingPartner``, like any outbound document.
    """
    if not isinstance(interchange, Interchange):
        interchange = read_interchange(interchange, strict=False)
    answers = []
    for group in interchange.groups:
        if group.functional_id == "FA":
            continue
        set_answers = []
        for ts in group.transaction_sets:
            set_answers.append(_acknowledge_set(group, ts))
        accepted = sum(1 for answer in set_answers if answer.accepted)
        group_codes = tuple(error.code for error in group.errors if error.code)
        if group.functional_id not in FUNCTIONAL_IDS:
            group_codes = (GROUP_NOT_SUPPORTED, *group_codes)
        if group_codes or accepted == 0:
            status = "R"
            accepted = 0 if group_codes else accepted
            if group_codes:
                set_answers = [answer if not answer.accepted else replace(answer, status="R") for answer in set_answers]
        elif accepted < len(set_answers):
            status = "P"
        else:
            status = "A"
        answers.append(
            FunctionalAcknowledgement(
                functional_id=group.functional_id,
                group_control_number=group.control_number,
                status=status,
                sets=tuple(set_answers),
                sets_included=group.declared_set_count if group.declared_set_count is not None else len(set_answers),
                sets_received=len(set_answers),
                sets_accepted=accepted,
                error_codes=group_codes[:5],
                group_version=group.version,
            )
        )
    return answers


def _acknowledge_set(group: FunctionalGroup, ts: TransactionSet) -> SetAcknowledgement:
    codes = [error.code for error in ts.errors if error.code]
    segment_errors: list[SegmentError] = []
    expected_set = FUNCTIONAL_IDS.get(group.functional_id)
    if ts.set_id not in GRAMMARS or (expected_set is not None and ts.set_id != expected_set):
        codes.insert(0, SET_NOT_SUPPORTED)
    else:
        segment_errors = check_set(ts.set_id, ts.segments)
        if segment_errors:
            codes.append(SET_SEGMENTS_IN_ERROR)
    ordered = tuple(dict.fromkeys(codes))[:5]
    return SetAcknowledgement(
        set_id=ts.set_id,
        control_number=ts.control_number,
        status="R" if ordered else "A",
        error_codes=ordered,
        segment_errors=tuple(segment_errors),
    )
