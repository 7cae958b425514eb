"""The pure rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from complaintdesk.db.ids import id_floor, id_time, new_id
from complaintdesk.domain import rules, sla
from complaintdesk.domain.errors import InvalidInput, TransitionNotAllowed
from complaintdesk.domain.lifecycle import Action, Status, allowed_actions, next_status
from complaintdesk.domain.messages import MessageKind, render
from complaintdesk.domain.permissions import (
    ActorView,
    ComplaintView,
    Permission,
    can,
    can_manage_staff,
)
from complaintdesk.domain.taxonomy import (
    Category,
    Nature,
    Role,
    StaffDepartment,
    Target,
    Urgency,
    display_name,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class TestLifecycle:
    def test_the_happy_path(self) -> None:
        s = Status.RECEIVED
        for action in (
            Action.DISPATCH,
            Action.START,
            Action.RESOLVE,
            Action.VISIT_SATISFIED,
            Action.CLOSE,
        ):
            s = next_status(s, action)
        assert s is Status.CLOSED

    def test_an_unsatisfied_visit_reopens_to_dispatched(self) -> None:
        assert next_status(Status.RESOLVED, Action.VISIT_UNSATISFIED) is Status.DISPATCHED

    @pytest.mark.parametrize(
        "status, action",
        [
            (Status.RECEIVED, Action.RESOLVE),
            (Status.RECEIVED, Action.CLOSE),
            (Status.DISPATCHED, Action.CLOSE),
            (Status.RESOLVED, Action.START),
            (Status.CLOSED, Action.DISPATCH),
            (Status.WITHDRAWN, Action.WITHDRAW),
            (Status.VISITED, Action.RESOLVE),
        ],
    )
    def test_refuses_what_is_not_allowed(self, status: Status, action: Action) -> None:
        with pytest.raises(TransitionNotAllowed) as err:
            next_status(status, action)
        assert status.value in err.value.message

    def test_final_states_allow_nothing(self) -> None:
        assert allowed_actions(Status.CLOSED) == [] and allowed_actions(Status.WITHDRAWN) == []


class TestSla:
    def test_defaults_follow_the_taxonomy(self) -> None:
        assert sla.DEFAULT_POLICY.for_urgency(Urgency.CRITICAL).response == timedelta(minutes=15)
        assert sla.DEFAULT_POLICY.for_urgency(Urgency.HIGH).response == timedelta(hours=2)
        assert sla.DEFAULT_POLICY.for_urgency(Urgency.NORMAL).response == timedelta(hours=24)
        assert sla.DEFAULT_POLICY.for_urgency(Urgency.LOW).response == timedelta(hours=72)

    def test_project_overrides_replace_only_what_they_name(self) -> None:
        policy = sla.SlaPolicy.with_overrides({"high": {"response": 60}})
        assert policy.for_urgency(Urgency.HIGH).response == timedelta(minutes=60)
        assert policy.for_urgency(Urgency.HIGH).resolution == timedelta(hours=24)

    @pytest.mark.parametrize(
        "overrides",
        [
            {"high": {"response": float("inf")}},
            {"high": {"response": float("nan")}},
            {"normal": {"response": 1e12}},
            {"urgent": {"response": 5}},
            {"high": {"response": -1}},
            {"high": {"reply": 5}},
            {"high": {"response": "soon"}},
        ],
    )
    def test_bad_overrides_are_refused(self, overrides: dict[str, dict[str, object]]) -> None:
        with pytest.raises(InvalidInput):
            sla.SlaPolicy.with_overrides(overrides)  # type: ignore[arg-type]

    def test_a_clock_escalates_to_supervisor_then_manager(self) -> None:
        clock = sla.ClockState(sla.Clock.RESPONSE, T0, T0 + timedelta(hours=2))
        assert clock.level_at(T0 + timedelta(hours=1)) is sla.Level.NONE
        assert clock.level_at(T0 + timedelta(hours=2)) is sla.Level.SUPERVISOR
        assert clock.level_at(T0 + timedelta(hours=4)) is sla.Level.MANAGER
        assert clock.next_change(T0) == T0 + timedelta(hours=2)
        assert clock.next_change(T0 + timedelta(hours=3)) == T0 + timedelta(hours=4)
        assert clock.next_change(T0 + timedelta(hours=5)) is None

    def test_escalations_due_skip_what_was_already_escalated(self) -> None:
        clocks = [sla.ClockState(sla.Clock.RESPONSE, T0, T0 + timedelta(hours=1))]
        at = T0 + timedelta(hours=1, minutes=30)
        assert sla.escalations_due(clocks, {}, at) == [(sla.Clock.RESPONSE, sla.Level.SUPERVISOR)]
        assert sla.escalations_due(clocks, {sla.Clock.RESPONSE: 1}, at) == []

    def test_running_clocks_follow_the_state(self) -> None:
        common = dict(
            received_at=T0,
            respond_by=T0 + timedelta(hours=1),
            clock_started_at=T0,
            resolve_by=T0 + timedelta(hours=5),
            visit_by=T0 + timedelta(hours=9),
        )
        running = sla.running_clocks(
            **common,
            responded_at=None,
            resolved_at=None,  # type: ignore[arg-type]
            visited=False,
            is_open=True,
        )
        assert [c.clock for c in running] == [sla.Clock.RESPONSE, sla.Clock.RESOLUTION]
        resolved = sla.running_clocks(
            **common,
            responded_at=T0,
            resolved_at=T0,  # type: ignore[arg-type]
            visited=False,
            is_open=True,
        )
        assert [c.clock for c in resolved] == [sla.Clock.VISIT]
        assert (
            sla.running_clocks(
                **common,
                responded_at=None,
                resolved_at=None,  # type: ignore[arg-type]
                visited=False,
                is_open=False,
            )
            == []
        )


class TestRules:
    def test_clean_text_normalises_and_refuses(self) -> None:
        assert rules.clean_text("  电梯坏了 \n", field="text") == "电梯坏了"
        for bad in ("", "   ", "a\x00b", "\ud800", "x" * (rules.MAX_TEXT_CHARS + 1)):
            with pytest.raises(InvalidInput) as err:
                rules.clean_text(bad, field="text")
            assert err.value.field == "text"

    @pytest.mark.parametrize(
        "text, risks",
        [
            ("再不修我就不交物业费了", [rules.Risk.WITHHOLD_FEES]),
            ("物业费我不交了", [rules.Risk.WITHHOLD_FEES]),
            ("我要找记者曝光你们", [rules.Risk.MEDIA]),
            ("我已经请了律师准备起诉", [rules.Risk.LAWSUIT]),
            ("我要打12345市长热线投诉", [rules.Risk.GOVERNMENT]),
            (
                "I will stop paying the service charge and go to the newspaper",
                [rules.Risk.WITHHOLD_FEES, rules.Risk.MEDIA],
            ),
            ("My lawyer will sue you", [rules.Risk.LAWSUIT]),
            ("I am writing to my council member", [rules.Risk.GOVERNMENT]),
            ("楼道灯坏了麻烦修一下", []),
            ("When is the fee due?", []),
        ],
    )
    def test_risk_flags(self, text: str, risks: list[rules.Risk]) -> None:
        assert rules.risk_flags(text) == risks

    def test_repeat_is_same_category_within_thirty_days(self) -> None:
        prior = [
            rules.PriorComplaint(1, Category.EQUIPMENT, Nature.HELP_SEEKING, T0, True),
            rules.PriorComplaint(
                2, Category.EQUIPMENT, Nature.HELP_SEEKING, T0 + timedelta(days=5), True
            ),
            rules.PriorComplaint(
                3, Category.MANAGEMENT, Nature.CONSULTING, T0 + timedelta(days=6), True
            ),
        ]
        found = rules.find_repeat(
            prior, category=Category.EQUIPMENT, received_at=T0 + timedelta(days=20)
        )
        assert found is not None and found.id == 2
        assert (
            rules.find_repeat(
                prior, category=Category.EQUIPMENT, received_at=T0 + timedelta(days=40)
            )
            is None
        )

    def test_upgrades(self) -> None:
        earlier = rules.PriorComplaint(1, Category.EQUIPMENT, Nature.HELP_SEEKING, T0, True)
        assert rules.upgrades_on_repeat(Nature.CONSULTING, earlier) == (True, True)
        assert rules.upgrades_on_repeat(Nature.DISSATISFACTION, earlier) == (True, False)
        angry = rules.PriorComplaint(1, Category.EQUIPMENT, Nature.DISSATISFACTION, T0, True)
        assert rules.upgrades_on_repeat(Nature.HELP_SEEKING, angry) == (False, False)
        assert rules.upgrade_on_breach(Nature.HELP_SEEKING, sla.Clock.RESPONSE)
        assert rules.upgrade_on_breach(Nature.CONSULTING, sla.Clock.RESOLUTION)
        assert not rules.upgrade_on_breach(Nature.DISSATISFACTION, sla.Clock.RESPONSE)
        # A late return visit: the owner's matter was dealt with in time.
        assert not rules.upgrade_on_breach(Nature.HELP_SEEKING, sla.Clock.VISIT)

    def test_satisfaction_scale(self) -> None:
        assert rules.is_satisfied(3) and not rules.is_satisfied(2)
        with pytest.raises(InvalidInput):
            rules.is_satisfied(6)


class TestPermissions:
    GUARD = ActorView(1, Role.STAFF, StaffDepartment.SECURITY)
    ENGINEER = ActorView(2, Role.STAFF, StaffDepartment.ENGINEERING)
    AGENT = ActorView(3, Role.AGENT, StaffDepartment.CUSTOMER_SERVICE)
    COMPLAINT = ComplaintView(
        first_receiver_id=1, assignee_id=None, departments=frozenset({"engineering"})
    )

    def test_anyone_registers(self) -> None:
        assert can(self.GUARD, Permission.REGISTER)

    def test_first_receiver_coordinates_their_complaint(self) -> None:
        for p in (Permission.DISPATCH, Permission.VISIT, Permission.CLOSE, Permission.WITHDRAW):
            assert can(self.GUARD, p, self.COMPLAINT)
            assert not can(self.ENGINEER, p, self.COMPLAINT)
            assert can(self.AGENT, p, self.COMPLAINT)

    def test_the_acting_department_works_it(self) -> None:
        assert can(self.ENGINEER, Permission.WORK, self.COMPLAINT)
        assert not can(self.GUARD, Permission.WORK, self.COMPLAINT)

    def test_only_admins_manage_projects(self) -> None:
        assert not can(self.AGENT, Permission.MANAGE)
        assert not can(ActorView(9, Role.MANAGER, StaffDepartment.MANAGEMENT), Permission.MANAGE)
        assert can(ActorView(9, Role.ADMIN, StaffDepartment.MANAGEMENT), Permission.MANAGE)

    def test_managers_manage_only_below_them_on_their_projects(self) -> None:
        manager = ActorView(9, Role.MANAGER, StaffDepartment.MANAGEMENT)
        mine = frozenset({1, 2})
        assert can_manage_staff(manager, mine, Role.SUPERVISOR, frozenset({1}))
        assert not can_manage_staff(manager, mine, Role.MANAGER, frozenset({1}))
        assert not can_manage_staff(manager, mine, Role.ADMIN, frozenset({1}))
        assert not can_manage_staff(manager, mine, Role.STAFF, frozenset({1, 3}))
        assert not can_manage_staff(manager, mine, Role.STAFF, frozenset())
        assert not can_manage_staff(self.AGENT, mine, Role.STAFF, frozenset({1}))
        admin = ActorView(1, Role.ADMIN, StaffDepartment.MANAGEMENT)
        assert can_manage_staff(admin, frozenset(), Role.ADMIN, frozenset())


def test_taxonomy_names_and_targets() -> None:
    assert display_name(Category.MANAGEMENT) == "管理与收费"
    assert display_name(StaffDepartment.MANAGEMENT, "en") == "Management"
    assert Category.SERVICE_ATTITUDE.target is Target.PERSON
    assert Category.EMERGENCY.target is Target.THING
    assert Category.NEIGHBORHOOD.target is Target.MATTER


def test_messages_render_in_both_languages() -> None:
    zh = render(MessageKind.RECEIVED, "zh", {"ref": "TS1", "name": "王女士", "receiver": "李"})
    en = render(MessageKind.RECEIVED, "en", {"ref": "TS1", "name": "Ms Wang", "receiver": "Li"})
    assert "TS1" in zh.subject and "王女士" in zh.body and "已由李受理" in zh.body
    assert en.body.startswith("Dear Ms Wang") and "-" in en.body  # a missing value shows "-"


def test_ids_are_time_ordered_and_say_when() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(0 < i < 2**63 for i in ids)
    stamped = new_id(T0)
    assert abs(id_time(stamped) - T0) < timedelta(milliseconds=1)
    assert id_floor(T0) <= stamped < id_floor(T0 + timedelta(milliseconds=1))


def test_every_status_has_a_display_name_in_each_language() -> None:
    from complaintdesk.domain.lifecycle import status_name

    en = {status_name(s, "en") for s in Status}
    zh = {status_name(s, "zh") for s in Status}
    assert len(en) == len(zh) == len(Status)  # no two states read the same
    assert status_name(Status.IN_PROGRESS, "en") == "In progress"
    assert status_name(Status.VISITED, "en") == "Return visit done"
    assert status_name(Status.VISITED, "zh") == "已回访"
    # English is written for people, not the code with its underscores
    assert all("_" not in name and name[0].isupper() for name in en)


def test_status_changes_work_out_what_a_status_event_did_not_store() -> None:
    """A status event's ``field``, ``old``, ``new`` follow from its kind and the status
    before it; stored ones (older events, the bulk path) are kept, and so is every
    other event's."""
    from complaintdesk.domain.lifecycle import status_changes

    events = [
        ("received", None, None, None),
        ("risk_flagged", "risk_flags", None, "media"),
        ("dispatch", "status", "received", "dispatched"),  # stored by older code
        ("dispatch", None, None, None),
        ("assigned", "assignee_id", "1", "2"),
        ("start", None, None, None),
        ("escalated", "resolution_level", "0", "1"),
        ("resolve", None, None, None),
        ("visit_unsatisfied", None, None, None),
        ("resolve", None, None, None),
        ("visit_satisfied", None, None, None),
        ("close", None, None, None),
    ]
    assert status_changes(events) == [
        ("status", None, "received"),
        ("risk_flags", None, "media"),
        ("status", "received", "dispatched"),
        ("status", "dispatched", "dispatched"),
        ("assignee_id", "1", "2"),
        ("status", "dispatched", "in_progress"),
        ("resolution_level", "0", "1"),
        ("status", "in_progress", "resolved"),
        ("status", "resolved", "dispatched"),
        ("status", "dispatched", "resolved"),
        ("status", "resolved", "visited"),
        ("status", "visited", "closed"),
    ]
    # A closed history from the bulk path (received, then closed, both stored) and a
    # withdrawal worked out after a stored receipt.
    assert status_changes(
        [("received", "status", None, "received"), ("close", "status", None, "closed")]
    ) == [("status", None, "received"), ("status", None, "closed")]
    assert status_changes(
        [("received", "status", None, "received"), ("withdraw", None, None, None)]
    ) == [("status", None, "received"), ("status", "received", "withdrawn")]


def test_intake_labels_are_stored_as_one_string_and_read_in_either_form() -> None:
    from complaintdesk.domain.taxonomy import labels_of, labels_text

    labels = {
        "urgency": "low",
        "department": "landscaping",
        "nature": "consulting",
        "category": "service_quality",
    }
    stored = labels_text(labels)
    assert stored == "consulting service_quality low landscaping"  # LABELS order
    assert labels_of(stored) == labels
    assert labels_of(labels) == labels  # the object events stored before
    assert labels_of({"nature": "consulting"}) == {"nature": "consulting"}
    assert labels_of(None) == {} and labels_of("consulting low") == {}
