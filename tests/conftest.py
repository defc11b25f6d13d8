from __future__ import annotations

from pathlib import Path

import pytest

from annotations.models import Membership
from tests.corpus import require_corpus
from tests.factories import MembershipFactory, UserFactory, labelled_project

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def corpus() -> Path:
    # The shared corpus sits beside the repository on developer and CI machines only.
    return require_corpus()


@pytest.fixture
def seed_page() -> Path:
    return FIXTURES / "mfa-briefing-2024-12-10.txt"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # PBKDF2 is slow on purpose to protect real passwords; tests only need hashing to work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path) -> Path:
    # Exports started in tests write into the test's own folder, never the repository's var/.
    settings.THEMATA_EXPORT_ROOT = tmp_path / "exports"
    return settings.THEMATA_EXPORT_ROOT


# Personas. Each is a user with one role in `project`; `other_project` belongs to another
# team that none of them (but the admin) may see.


@pytest.fixture
def project(db):
    """A multi-label project: 2 articles × 3 segments, labels "Theme 1"…"Theme 4"."""
    return labelled_project(name="Team project", slug="team-project")


@pytest.fixture
def other_project(db):
    """Another team's project, with its own collection and label set."""
    return labelled_project(name="Other team", slug="other-team")


@pytest.fixture
def manager(project):
    """Sets up `project`: labels, members, imports; also labels segments."""
    return MembershipFactory(project=project, role=Membership.Role.MANAGER).user


@pytest.fixture
def annotator(project):
    """Labels segments of `project` and sees only their own answers."""
    return MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user


@pytest.fixture
def reviewer(project):
    """Reads `project` (overview, guidelines); does not label or manage it."""
    return MembershipFactory(project=project, role=Membership.Role.REVIEWER).user


@pytest.fixture
def outsider(other_project):
    """Annotator in `other_project` only: `project` must not exist for them (404)."""
    return MembershipFactory(project=other_project, role=Membership.Role.ANNOTATOR).user


@pytest.fixture
def admin_user(db):
    """A superuser: every project, every capability."""
    return UserFactory(username="root-admin", is_staff=True, is_superuser=True)
