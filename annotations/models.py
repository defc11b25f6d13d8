from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from articles.models import Collection

color_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f77b4.")
# One printable, non-space character that is not a key the labelling screen uses itself.
shortcut_validator = RegexValidator(
    r"^[0-9a-z]$", "A shortcut is a single lowercase letter or digit."
)


class LabelSet(models.Model):
    """A reusable list of themes; a project labels with exactly one label set."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    label_set = models.ForeignKey(LabelSet, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True, help_text="Guideline: when to use this label.")
    color = models.CharField(max_length=7, default="#4c78a8", validators=[color_validator])
    shortcut = models.CharField(
        max_length=1, blank=True, validators=[shortcut_validator], help_text="Keyboard key."
    )
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Inactive labels are hidden from annotators but kept."
    )

    class Meta:
        ordering = ["label_set", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["label_set", "slug"], name="label_unique_slug_in_set"),
            models.UniqueConstraint(
                fields=["label_set", "shortcut"],
                condition=~Q(shortcut=""),
                name="label_unique_shortcut_in_set",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="projects")
    label_set = models.ForeignKey(LabelSet, on_delete=models.PROTECT, related_name="projects")
    multi_label = models.BooleanField(
        default=True, help_text="Several labels per segment; off means exactly one."
    )
    annotators_per_segment = models.PositiveSmallIntegerField(
        default=1, help_text="How many people label each segment."
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(annotators_per_segment__gte=1),
                name="project_at_least_one_annotator_per_segment",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"
