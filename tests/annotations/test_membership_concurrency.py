"""Two managers demoting or removing each other at the same moment: one wins, the project
keeps a manager, nobody waits forever (the manager rows are locked in one order)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from annotations.models import Membership
from annotations.services.members import (
    MembershipRejected,
    membership_remove,
    membership_role_change,
)
from tests.factories import MembershipFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers; SQLite serialises them by locking the whole file",
    ),
]


def at_once(calls: list[Callable[[], object]]) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            call()
            outcomes.append("done")
        except MembershipRejected:
            outcomes.append("refused")
        except Exception as error:  # a deadlock or anything else fails the test below
            outcomes.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


@pytest.mark.parametrize("rounds", range(3))
def test_two_managers_demoting_each_other_at_once_leave_one_manager(project, rounds) -> None:
    first = MembershipFactory(project=project, role=Membership.Role.MANAGER)
    second = MembershipFactory(project=project, role=Membership.Role.MANAGER)

    outcomes = at_once(
        [
            lambda: membership_role_change(membership=first, role="annotator"),
            lambda: membership_role_change(membership=second, role="annotator"),
        ]
    )

    assert outcomes == ["done", "refused"]
    assert Membership.objects.filter(project=project, role="manager").count() == 1


def test_two_managers_removing_each_other_at_once_leave_one_manager(project) -> None:
    first = MembershipFactory(project=project, role=Membership.Role.MANAGER)
    second = MembershipFactory(project=project, role=Membership.Role.MANAGER)

    outcomes = at_once(
        [lambda: membership_remove(membership=first), lambda: membership_remove(membership=second)]
    )

    assert outcomes == ["done", "refused"]
    assert Membership.objects.filter(project=project, role="manager").count() == 1
