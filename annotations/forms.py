"""Forms of the annotations app, in sections by the views that use them."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Count, Q, QuerySet

from articles.models import Collection, Segmentation

from .models import (
    Annotation,
    GoldLabel,
    Label,
    LabelSet,
    Membership,
    Project,
    color_validator,
    shortcut_validator,
)
from .services.browse import NO_GOLD, STATUS_LABELS, BrowseFilters, SegmentStatus

# Project set-up forms (views/setup.py, views/labels.py)

MAX_ANNOTATORS_PER_SEGMENT = 10
ANNOTATORS_PER_SEGMENT_HELP = (
    "How many different people label each segment. The queue gives a segment to this many "
    "people, then no longer offers it: with 1, every segment is labelled once, and a second "
    "annotator is only given segments nobody has labelled yet. Use 2 or more to compare "
    "annotators (agreement) and to review their differences."
)


class ColorInput(forms.TextInput):
    input_type = "color"


def _managed_projects(user: User) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    managed = Membership.objects.filter(user=user, role=Membership.Role.MANAGER)
    return Project.objects.filter(pk__in=managed.values("project_id"))


class CollectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Collection) -> str:
        return f"{obj.name} ({obj.article_count} articles, {obj.segment_count} segments)"


class LabelSetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: LabelSet) -> str:
        # label_count: annotated by ProjectCreateForm's queryset.
        return f"{obj.name} ({obj.label_count} labels)"  # type: ignore[attr-defined]


class ProjectCreateForm(forms.Form):
    """A new project; its collection and label set are picked among the creator's own
    projects' (all of them for a superuser), or named to be created empty."""

    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=200,
        required=False,
        label="Address",
        help_text="The end of the project's web address, /p/…/. Left empty: made from the name.",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Guidelines",
        help_text="Shown to annotators as the introduction to the guidelines.",
    )
    collection = CollectionChoiceField(
        queryset=Collection.objects.none(),
        required=False,
        empty_label="(a new collection)",
        help_text="The articles to label: one your projects already use…",
    )
    new_collection = forms.CharField(
        max_length=200,
        required=False,
        label="…or a new collection named",
        help_text="Created empty; import articles into it from the project page.",
    )
    label_set = LabelSetChoiceField(
        queryset=LabelSet.objects.none(),
        required=False,
        empty_label="(a new label set)",
        help_text="The themes: a label set your projects already use (it is then shared)…",
    )
    new_label_set = forms.CharField(
        max_length=200,
        required=False,
        label="…or a new label set named",
        help_text="Created empty; you add its labels next.",
    )
    multi_label = forms.BooleanField(
        required=False, initial=True, label="Several labels per segment"
    )
    annotators_per_segment = forms.IntegerField(
        min_value=1,
        max_value=MAX_ANNOTATORS_PER_SEGMENT,
        initial=1,
        label="Annotators per segment",
        help_text=ANNOTATORS_PER_SEGMENT_HELP,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        projects = _managed_projects(user)
        collection = self.fields["collection"]
        label_set = self.fields["label_set"]
        assert isinstance(collection, forms.ModelChoiceField)
        assert isinstance(label_set, forms.ModelChoiceField)
        collection.queryset = Collection.objects.filter(pk__in=projects.values("collection_id"))
        label_set.queryset = LabelSet.objects.filter(
            pk__in=projects.values("label_set_id")
        ).annotate(label_count=Count("labels"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for pick, new, what in (
            ("collection", "new_collection", "collection"),
            ("label_set", "new_label_set", "label set"),
        ):
            if pick in self.errors or new in self.errors:
                continue
            if data.get(pick) and data.get(new):
                self.add_error(new, f"Pick an existing {what} or name a new one, not both.")
            elif not data.get(pick) and not data.get(new):
                self.add_error(new, f"Pick an existing {what} or name a new one.")
        return data


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Guidelines",
        help_text="Shown to annotators as the introduction to the guidelines.",
    )
    multi_label = forms.BooleanField(required=False, label="Several labels per segment")
    annotators_per_segment = forms.IntegerField(
        min_value=1,
        max_value=MAX_ANNOTATORS_PER_SEGMENT,
        label="Annotators per segment",
        help_text=ANNOTATORS_PER_SEGMENT_HELP,
    )
    queue_order = forms.TypedChoiceField(
        choices=Project.QueueOrder.choices,
        required=False,
        empty_value=None,
        label="Queue order",
        help_text="The order in which annotators are given segments. Shuffled: articles in a "
        "fixed random order (the same for everyone), each article's segments in reading order.",
    )
    queue_seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2_000_000_000,
        label="Shuffle number",
        help_text="Which shuffle: the same number always gives the same order, another number "
        "another one. Changing the order sends everyone back to the start of the queue "
        "(their answers stay, and are not offered again).",
    )
    reservation_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 60,
        label="Reservation (minutes)",
        help_text="A segment given to someone is kept for them alone this long; when they "
        "submit or skip it, or the time runs out, it goes back to the others.",
    )
    one_per_duplicate_group = forms.BooleanField(
        required=False,
        label="Label one article per near-duplicate group",
        help_text="The queue leaves out articles found to be near-copies of an earlier one.",
    )
    auto_accept_unanimous = forms.BooleanField(
        required=False,
        label="Accept unanimous answers as gold labels",
        help_text="When all k answers agree (none unsure, no comment), no review is needed.",
    )
    review_sample_percent = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        label="Quality-control sample (%)",
        help_text="Share of agreed segments also put in the review queue.",
    )

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, object]:
        return {
            "name": project.name,
            "description": project.description,
            "multi_label": project.multi_label,
            "annotators_per_segment": project.annotators_per_segment,
            "auto_accept_unanimous": project.auto_accept_unanimous,
            "review_sample_percent": project.review_sample_percent,
            "queue_order": project.queue_order,
            "queue_seed": project.queue_seed,
            "reservation_minutes": project.reservation_minutes,
            "one_per_duplicate_group": project.one_per_duplicate_group,
        }


class ShortcutField(forms.CharField):
    def to_python(self, value: object) -> str:
        return (super().to_python(value) or "").lower()


class LabelForm(forms.Form):
    """Add a label to ``label_set``, or edit ``label``; checks run against the set's labels.

    A plain form, not a ModelForm, so that an invalid edit never touches the shown label.
    """

    name = forms.CharField(max_length=100)
    slug = forms.SlugField(
        max_length=100,
        required=False,
        help_text="Its name in exports. Left empty: made from the name (kept when editing).",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Guideline",
        help_text="When to use this label.",
    )
    color = forms.CharField(
        max_length=7,
        widget=ColorInput,
        validators=[color_validator],
        initial="#4c78a8",
        label="Colour",
    )
    shortcut = ShortcutField(
        max_length=1,
        required=False,
        validators=[shortcut_validator],
        widget=forms.TextInput(attrs={"size": 2, "autocomplete": "off"}),
        help_text="One letter or digit.",
    )

    def __init__(
        self,
        *args: Any,
        label_set: LabelSet,
        label: Label | None = None,
        **kwargs: Any,
    ) -> None:
        if label is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": label.name,
                    "slug": label.slug,
                    "description": label.description,
                    "color": label.color,
                    "shortcut": label.shortcut,
                },
            )
        super().__init__(*args, **kwargs)
        self.label_set = label_set
        self.label = label

    def _others(self) -> QuerySet[Label]:
        others = Label.objects.filter(label_set=self.label_set)
        if self.label is not None:
            others = others.exclude(pk=self.label.pk)
        return others

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        name, slug, shortcut = data.get("name"), data.get("slug"), data.get("shortcut")
        if not (name or slug or shortcut):
            return data
        # One query for the three uniqueness checks.
        clash = Q(name__iexact=name or "") | Q(slug=slug or "")
        if shortcut:
            clash |= Q(shortcut=shortcut)
        for other in self._others().filter(clash):
            if name and other.name.lower() == name.lower() and "name" not in self.errors:
                self.add_error("name", f"This set already has a label called “{other.name}”.")
            if slug and other.slug == slug and "slug" not in self.errors:
                self.add_error("slug", f"“{other.name}” already has this slug.")
            if shortcut and other.shortcut == shortcut and "shortcut" not in self.errors:
                self.add_error("shortcut", f"“{shortcut}” is already the key of “{other.name}”.")
        return data


# Member forms (views/members.py)


def _role_field() -> forms.ChoiceField:
    return forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


class MemberAddForm(forms.Form):
    """Add an existing account to a project. There is no search: the manager types the exact
    username, so that the page does not list every account on the site."""

    username = forms.CharField(max_length=150, help_text="Exactly as the account is spelled.")
    role = _role_field()


class AccountCreateForm(forms.Form):
    """A new ordinary account and its role. Staff and superuser status have no field here:
    only administrators grant them, in the admin."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    password1 = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    role = _role_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = " ".join(password_validation.password_validators_help_texts())
        self.fields["password1"].help_text = (
            f"{rules} Or leave both password fields blank: a password is generated and shown "
            "to you once."
        )

    def clean_username(self) -> str:
        User = get_user_model()
        username = User.normalize_username(self.cleaned_data["username"].strip())
        if User._default_manager.filter(username__iexact=username).exists():
            raise forms.ValidationError(
                "An account with this username already exists; add it with “Add an existing "
                "account” instead."
            )
        return username

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        password1 = cleaned.get("password1", "")
        password2 = cleaned.get("password2", "")
        if not password1 and not password2:
            return cleaned
        if password1 != password2:
            self.add_error("password2", "The two passwords differ.")
            return cleaned
        User = get_user_model()
        someone = User(
            username=cleaned.get("username", ""),
            first_name=cleaned.get("first_name", ""),
            last_name=cleaned.get("last_name", ""),
            email=cleaned.get("email", ""),
        )
        try:
            password_validation.validate_password(password1, someone)
        except forms.ValidationError as error:
            self.add_error("password1", error)
        return cleaned


class MemberRoleForm(forms.Form):
    role = _role_field()


class MemberPasswordForm(forms.Form):
    """A manager sets a member's password, or leaves both fields blank to have one generated.

    ``members`` are the (membership id, username) pairs the manager may choose from
    (``password_settable_members``); the service checks the rule again when saving.
    """

    member = forms.TypedChoiceField(coerce=int, label="Member")
    password1 = forms.CharField(
        label="New password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="New password again",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, members: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        member = self.fields["member"]
        assert isinstance(member, forms.ChoiceField)
        member.choices = [("", "Choose a member"), *members]
        rules = " ".join(password_validation.password_validators_help_texts())
        self.fields[
            "password1"
        ].help_text = (
            f"{rules} Or leave both fields blank: a password is generated and shown to you once."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1", "") != cleaned.get("password2", ""):
            self.add_error("password2", "The two passwords differ.")
        return cleaned


# Import forms (views/imports.py)


IMPORT_FORMAT_CHOICES = [
    ("auto", "Tell by the file name, else the content"),
    ("jsonl", "JSON Lines (one article per line)"),
    ("csv", "CSV or TSV (one article per row)"),
    ("txt", "Scraped page text"),
    ("html", "Web pages (HTML)"),
]


@functools.cache
def _time_zone_choices() -> list[tuple[str, str]]:
    # Reading the zone database takes a while; its contents do not change while we run.
    return [(key, key.replace("_", " ")) for key in sorted(zoneinfo.available_timezones())]


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files in one input; cleans to the list of uploaded files."""

    widget = MultipleFileInput

    def clean(self, data: object, initial: object = None) -> list[object]:
        files = list(data) if isinstance(data, list | tuple) else [data] if data else []
        if not files and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        clean_one = super().clean
        return [clean_one(file, initial) for file in files]


class ImportUploadForm(forms.Form):
    # The stubs type Form.files (the request's uploads) and mistake this field for it.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Files",
        # An empty file gets the importer's own message, like every other bad file.
        allow_empty_file=True,
        error_messages={"required": "Choose one or more files to import."},
    )
    format = forms.ChoiceField(label="Format", choices=IMPORT_FORMAT_CHOICES, initial="auto")
    segmentation = forms.ChoiceField(
        label="Cut articles into",
        choices=Segmentation.choices,
        initial=Segmentation.PARAGRAPH,
    )
    time_zone = forms.ChoiceField(label="Time zone of dates without one", choices=[])
    skip_invalid = forms.BooleanField(
        label="Keep going: leave out pages or records without a usable article",
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        default = settings.THEMATA_IMPORT_TIME_ZONE
        choices = _time_zone_choices()
        if default not in dict(choices):
            choices = [(default, default), *choices]
        field.choices = choices
        field.initial = default


# The labelling screen (views/annotate.py)

MALFORMED = "The form was malformed."


class LabelIdsField(forms.Field):
    """The ids of the chosen labels, as posted by the checkboxes (or radios) named ``labels``."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value: object) -> list[int]:
        if value in self.empty_values:
            return []
        if not isinstance(value, list | tuple):
            raise forms.ValidationError(MALFORMED, code="malformed")
        try:
            return [int(raw) for raw in value]
        except (TypeError, ValueError):
            raise forms.ValidationError(MALFORMED, code="malformed") from None


class AnswerForm(forms.Form):
    """One answer as the labelling screen posts it.

    ``labels`` are the project's labels (retired ones too); ``stored_label_ids`` gives the
    labels of the answer already stored, and is called only when a retired label was sent
    (a retired label may be kept on an answer that has it, never chosen anew).
    """

    ACTIONS = [("submit", "Submit"), ("skip", "Skip")]

    version = forms.IntegerField(
        required=False, min_value=0, error_messages={"invalid": MALFORMED, "min_value": MALFORMED}
    )
    time_spent_ms = forms.IntegerField(required=False, error_messages={"invalid": MALFORMED})
    labels = LabelIdsField(required=False)
    action = forms.ChoiceField(
        choices=ACTIONS, required=False, error_messages={"invalid_choice": "Unknown action."}
    )
    unsure = forms.BooleanField(required=False)
    # Not stripped nor length-checked here: annotation_submit owns those rules.
    comment = forms.CharField(required=False, strip=False)
    view = forms.CharField(required=False)

    def __init__(
        self,
        *args: Any,
        labels: list[Label],
        stored_label_ids: Callable[[], set[int]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.labels_by_id = {label.pk: label for label in labels}
        self._stored_label_ids = stored_label_ids
        # annotation_submit refuses a NUL with its own message; don't refuse it twice.
        self.fields["comment"].validators = []

    def clean_version(self) -> int:
        return self.cleaned_data["version"] or 0

    def clean_time_spent_ms(self) -> int:
        return self.cleaned_data["time_spent_ms"] or 0

    def clean_action(self) -> str:
        return self.cleaned_data["action"] or "submit"

    def clean_labels(self) -> list[Label]:
        ids = list(dict.fromkeys(self.cleaned_data["labels"]))
        if any(i not in self.labels_by_id for i in ids):
            raise forms.ValidationError(
                "A label that is not in this project's label set was sent; nothing was saved.",
                code="foreign",
            )
        return [self.labels_by_id[i] for i in sorted(ids)]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        labels = cleaned.get("labels") or []
        if cleaned.get("action") == "submit":
            retired = [label for label in labels if not label.active]
            if retired:
                stored = self._stored_label_ids()
                for label in retired:
                    if label.pk not in stored:
                        raise forms.ValidationError(
                            f"“{label.name}” is no longer in use; choose another label.",
                            code="retired",
                        )
        return cleaned

    @property
    def status(self) -> str:
        action = self.cleaned_data.get("action") or self.data.get("action")
        return Annotation.Status.SKIPPED if action == "skip" else Annotation.Status.SUBMITTED

    def first_error(self) -> str:
        """The one message to show: the first field's in form order, else the form's."""
        for name in [*self.fields, NON_FIELD_ERRORS]:
            errors = self.errors.get(name)
            if errors:
                return str(errors[0])
        return MALFORMED


# Review forms (views/review.py)


class GoldLabelForm(forms.Form):
    """A reviewer's decision: the final labels and a note (``action=submit``), or passing
    on to the next segment (``action=skip``). The labels are the project's own; the
    service checks the rest (how many, retired ones)."""

    # Not required: a keyboard submit through htmx may not carry the button's value.
    action = forms.ChoiceField(choices=[("submit", "Save"), ("skip", "Next")], required=False)
    labels = forms.TypedMultipleChoiceField(coerce=int, required=False)
    note = forms.CharField(required=False, max_length=2000, strip=True)
    version = forms.IntegerField(min_value=0, initial=0)

    def __init__(self, *args: Any, labels: list[Label], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.labels_by_id = {label.pk: label for label in labels}
        field = self.fields["labels"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(label.pk, label.name) for label in labels]
        field.error_messages["invalid_choice"] = (
            "A label that is not in this project's label set was sent; nothing was saved."
        )

    def clean_action(self) -> str:
        return self.cleaned_data["action"] or "submit"

    def clean_labels(self) -> list[Label]:
        return [self.labels_by_id[pk] for pk in sorted(set(self.cleaned_data["labels"]))]

    def sent_label_ids(self) -> set[int]:
        """The posted label ids that belong to the project (to show them again)."""
        sent: set[int] = set()
        for raw in self.data.getlist("labels") if hasattr(self.data, "getlist") else []:
            if raw.isdigit() and int(raw) in self.labels_by_id:
                sent.add(int(raw))
        return sent

    def messages(self) -> str:
        return " ".join(str(error) for errors in self.errors.values() for error in errors)


class BrowseForm(forms.Form):
    """The data browser's filters (a GET form); ``after`` is the keyset of the page."""

    q = forms.CharField(required=False, max_length=200, label="Text")
    label = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    annotator = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(required=False)
    gold = forms.ChoiceField(required=False, label="Gold label")
    unsure = forms.BooleanField(required=False, label="Unsure")
    comment = forms.BooleanField(required=False, label="Comment")
    disagreement = forms.BooleanField(required=False, label="Disagreement")
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, labels: list[Label], annotators: list[tuple[int, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: dict[str, list[tuple[Any, str]]] = {
            "label": [("", "any label"), *((label.pk, label.name) for label in labels)],
            "annotator": [("", "anyone"), *annotators],
            "status": [("", "any status"), *((s.value, t) for s, t in STATUS_LABELS.items())],
            "gold": [("", "any"), (NO_GOLD, "none"), *GoldLabel.Source.choices],
        }
        for name, options in choices.items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = options

    def filters(self) -> BrowseFilters:
        data = self.cleaned_data
        return BrowseFilters(
            text=data["q"].strip(),
            label_id=data["label"],
            annotator_id=data["annotator"],
            status=SegmentStatus(data["status"]) if data["status"] else None,
            unsure=data["unsure"],
            commented=data["comment"],
            disagreement=data["disagreement"],
            gold=data["gold"],
        )


class ExportForm(forms.Form):
    """The options of a dataset export, with the defaults a training set usually wants."""

    format = forms.ChoiceField(
        choices=[
            ("folder", "Dataset folder (.zip): train/validation/test, labels, card"),
            ("jsonl", "JSON Lines"),
            ("csv", "CSV (spreadsheet-safe)"),
            ("parquet", "Parquet"),
        ],
        initial="folder",
    )
    LABEL_CHOICES = [
        ("majority", "Majority: labels more than half of the answers agree on"),
        ("raw", "Raw: every answer, one row each"),
        ("gold", "Gold: reviewed labels"),
    ]
    labels = forms.ChoiceField(choices=LABEL_CHOICES, initial="majority")
    min_answers = forms.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        label="Answers needed (majority)",
        help_text="Blank: the project's annotators per segment.",
    )
    exclude_unsure = forms.BooleanField(
        required=False, label="Leave out answers marked unsure (majority)"
    )
    split = forms.CharField(
        required=False,
        initial="0.8,0.1,0.1",
        max_length=50,
        label="Split (train, validation, test)",
        help_text="Whole articles per split; dataset folder only. Blank: one file.",
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
    real_names = forms.BooleanField(
        required=False, label="User names instead of annotator-1, annotator-2… (raw)"
    )

    def __init__(self, *args: object, gold: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not gold:
            field = self.fields["labels"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [c for c in self.LABEL_CHOICES if c[0] != "gold"]

    def clean(self) -> dict[str, object]:
        from .exporting.splitting import parse_ratios
        from .services.exports import ExportOptions, ExportRefused

        data = super().clean() or {}
        if self.errors:
            return data
        # The split applies to the dataset folder only; other formats are one file.
        split_text = str(data.get("split") or "").strip() if data["format"] == "folder" else ""
        try:
            split = parse_ratios(split_text) if split_text else None
            self.options = ExportOptions(
                format=str(data["format"]),
                labels=str(data["labels"]),
                min_answers=data.get("min_answers"),
                exclude_unsure=bool(data.get("exclude_unsure")),
                split=split,
                seed=int(data.get("seed") or 0),
                real_names=bool(data.get("real_names")),
            )
        except (ValueError, ExportRefused) as exc:
            raise forms.ValidationError(str(exc)) from None
        return data
