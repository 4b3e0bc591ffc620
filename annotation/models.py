import random

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Lower

from core.models import BackgroundJob, JobStatus  # noqa: F401  (JobStatus: re-exported for older imports)


class DataKind(models.TextChoices):
    IMAGE = "image", "Images"
    TABULAR = "tabular", "Tabular records"


class TaskType(models.TextChoices):
    SINGLE_LABEL = "single_label", "Single-label classification"
    MULTI_LABEL = "multi_label", "Multi-label classification"


class QueueOrder(models.TextChoices):
    PRIORITY = "priority", "Stored priority (active learning), then import order"
    IMPORT = "import", "Import order"
    RANDOM = "random", "Random"


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"  # configure, import, export, invite, review, label
    REVIEWER = "reviewer", "Reviewer"  # review, label
    ANNOTATOR = "annotator", "Annotator"  # label


class Project(models.Model):
    """A labeling project. Its label schema is `task_type`, the columns and its Label rows, at `schema_version`."""

    name = models.CharField(max_length=200, unique=True)
    data_kind = models.CharField(max_length=16, choices=DataKind.choices)
    instructions = models.TextField(blank=True)
    task_type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.SINGLE_LABEL)
    shown_columns = models.JSONField(default=list, blank=True)  # schemas.ColumnList; tabular only
    feature_columns = models.JSONField(default=list, blank=True)  # schemas.ColumnList; tabular only
    schema_version = models.PositiveIntegerField(default=1)
    # The labeling workflow: k annotations per item, the order the queue hands items out, lease length.
    overlap = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(20)])
    queue_order = models.CharField(max_length=16, choices=QueueOrder.choices, default=QueueOrder.PRIORITY)
    lease_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(30), MaxValueValidator(3600)]
    )
    columns = models.JSONField(default=list, blank=True)  # schemas.ColumnTypes: the table's typed columns
    # The ranking the queue serves (see Ranking); a new ranking becomes current by this one small update.
    current_ranking = models.ForeignKey(
        "Ranking", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="project_name_unique_ignoring_case")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["project_id", "user__username"]


class Invitation(models.Model):
    """An invitation to join a project: only the digest of its one-time key is stored."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class LabelQuerySet(models.QuerySet):
    def active(self) -> "LabelQuerySet":
        return self.filter(retired_at__isnull=True)


class Label(models.Model):
    """One class of the schema. Never deleted once used: renames keep its id, retiring hides it from new
    annotations, merging points it at another label (`merged_into`) while its annotations stay as they were."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7)
    hotkey = models.CharField(max_length=1, blank=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    retired_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = LabelQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_name_unique_in_project"),
            models.UniqueConstraint(
                fields=["project", "hotkey"],
                condition=Q(retired_at__isnull=True) & ~Q(hotkey=""),
                name="active_label_hotkey_unique_in_project",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class SchemaChange(models.Model):
    """The history of a project's label schema: one row per version, with the operation that made it."""

    class Operation(models.TextChoices):
        CREATE = "create"
        ADD_LABEL = "add_label"
        UPDATE_LABEL = "update_label"
        RENAME_LABEL = "rename_label"
        RETIRE_LABEL = "retire_label"
        MERGE_LABELS = "merge_labels"
        SET_COLUMNS = "set_columns"
        SET_TASK_TYPE = "set_task_type"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="schema_changes")
    version = models.PositiveIntegerField()
    operation = models.CharField(max_length=32, choices=Operation.choices)
    payload = models.JSONField()  # schemas.SchemaChangePayload
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="one_change_per_schema_version")]


def random_key() -> float:
    return random.random()


class ItemStatus(models.TextChoices):
    OPEN = "open", "Needs annotations"
    DONE = "done", "Has all its annotations"


class ReviewStatus(models.TextChoices):
    UNREVIEWED = "unreviewed"
    ACCEPTED = "accepted"
    CORRECTED = "corrected"


# Items whose priority a manager raised are served before the ranking's head; the threshold keeps them in a small
# partial index, so the queue's extra scan costs nothing while none are raised.
RAISED_PRIORITY = 1_000.0


class ItemQuerySet(models.QuerySet):
    def with_ranking(self) -> "ItemQuerySet":
        """Items with `insight` and `ranked_priority` from their project's current ranking (None outside its head)."""
        ranked = RankedItem.objects.filter(item_id=OuterRef("pk"), ranking_id=OuterRef("project__current_ranking_id"))
        return self.annotate(
            insight=Subquery(ranked.values("insight")[:1], output_field=models.JSONField()),
            ranked_priority=Subquery(ranked.values("priority")[:1], output_field=models.FloatField()),
        )


class Item(models.Model):
    """One thing to label: an image file, or one record (row) of a table with typed values in `data`.

    `status`, `annotation_count` and `agreement` are kept by the labeling services (never by signals). The queue
    serves the project's current Ranking first; `priority` (higher first) orders the items beyond its head.
    """

    # No index of its own: every index below starts with the project (one less to maintain on each insert).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items", db_index=False)
    external_id = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)  # schemas.TabularRecord for tabular items
    image = models.FileField(upload_to="items/", blank=True, max_length=500)
    thumbnail = models.FileField(upload_to="thumbnails/", blank=True, max_length=500)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    annotation_count = models.PositiveIntegerField(default=0)  # active annotations
    priority = models.FloatField(default=0.0)
    random_key = models.FloatField(default=random_key)  # a fixed shuffle for QueueOrder.RANDOM
    agreement = models.FloatField(null=True, blank=True)  # share of annotators agreeing with the majority
    review_status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.UNREVIEWED)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project", "external_id"]),
            # One index per queue order: open items of a project, started ones first, then the order.
            models.Index(fields=["project", "status", "-annotation_count", "-priority", "id"], name="queue_priority"),
            models.Index(fields=["project", "status", "-annotation_count", "id"], name="queue_import"),
            models.Index(fields=["project", "status", "-annotation_count", "random_key"], name="queue_random"),
            models.Index(fields=["project", "status", "review_status", "agreement"], name="review_queue"),
            models.Index(
                fields=["project", "-priority", "id"], condition=Q(priority__gte=RAISED_PRIORITY), name="queue_raised"
            ),
            # The item browser pages by id (keyset) within a project, alone or under one selective filter.
            models.Index(fields=["project", "id"], name="browse_id"),
            models.Index(fields=["project", "status", "id"], name="browse_status"),
            models.Index(fields=["project", "review_status", "id"], name="browse_review"),
            models.Index(fields=["project", "agreement", "id"], name="browse_agreement"),
            models.Index(fields=["project", "created_at", "id"], name="browse_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], condition=~Q(content_hash=""), name="item_content_unique_in_project"
            )
        ]

    @property
    def insight(self) -> dict | None:
        """Why the item sits where it does in the current ranking and the model's suggestion (schemas.ItemInsight);
        None outside the ranking's head. Lists read it with `Item.objects.with_ranking()` (one query for all)."""
        if "_insight" not in self.__dict__:
            current = Project.objects.filter(id=self.project_id).values("current_ranking_id")[:1]
            found = RankedItem.objects.filter(item_id=self.id, ranking_id=Subquery(current))
            self._insight = found.values_list("insight", flat=True).first()
        return self._insight

    @insight.setter
    def insight(self, value: dict | None) -> None:
        self._insight = value


class Lease(models.Model):
    """An item handed to an annotator until `expires_at`. An expired lease simply stops counting: every query
    compares `expires_at` with now, so no cleanup job is needed."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="leases")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="one_lease_per_item_and_user")]
        indexes = [models.Index(fields=["user", "expires_at"]), models.Index(fields=["item", "expires_at"])]


class AnnotationStatus(models.TextChoices):
    ACTIVE = "active"
    REJECTED = "rejected"  # set aside by a reviewer; kept for history, not counted


class Annotation(models.Model):
    """One annotator's answer for one item, made under schema version `schema_version`."""

    # Not a column: the label ids of an answer the submit service has just written, so that its reply need not
    # read them back (None on annotations read from the database).
    known_label_ids: list[int] | None = None

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    # No index of its own: the (annotator, created_at) index below starts with it (one less to maintain per answer).
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations", db_index=False
    )
    labels = models.ManyToManyField(Label, related_name="annotations")
    schema_version = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=AnnotationStatus.choices, default=AnnotationStatus.ACTIVE)
    client_key = models.CharField(max_length=64, blank=True)  # idempotency key chosen by the client
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    # The model's suggestion shown with the item when it was submitted, and whether the annotator took it as is.
    suggested_label_ids = models.JSONField(null=True, blank=True)  # schemas.LabelIds
    accepted_suggestion = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["annotator", "created_at"]),
            # A reviewer's rejection sends the item back to its annotators first: their next-item query starts here.
            models.Index(fields=["annotator", "item"], condition=Q(status="rejected"), name="annotation_rejected_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], condition=Q(status="active"), name="one_active_annotation_per_annotator"
            ),
            models.UniqueConstraint(
                fields=["annotator", "client_key"], condition=~Q(client_key=""), name="annotation_client_key_unique"
            ),
        ]


class Skip(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skips")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="one_skip_per_item_and_user")]


class Draft(models.Model):
    """Labels chosen but not submitted yet, kept if the browser closes."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="drafts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts")
    payload = models.JSONField()  # schemas.DraftPayload
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="one_draft_per_item_and_user")]


class Review(models.Model):
    class Decision(models.TextChoices):
        ACCEPT = "accept"
        REJECT = "reject"
        CORRECT = "correct"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    labels = models.ManyToManyField(Label, related_name="reviews", blank=True)  # the correction
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class ItemEvent(models.Model):
    """The history of an item: every submit, edit, undo, skip and review decision, with the labels involved."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted"
        EDITED = "edited"
        UNDONE = "undone"
        SKIPPED = "skipped"
        UNSKIPPED = "unskipped"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        CORRECTED = "corrected"
        TO_REVIEW = "to_review"  # sent (back) to the review queue from the item browser
        REQUEUED = "requeued"  # its answers set aside, handed out again
        PRIORITIZED = "prioritized"  # served before the ranking's head

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    annotation_id = models.BigIntegerField(null=True, blank=True)  # not a FK: undone annotations are deleted
    label_ids = models.JSONField(default=list)  # schemas.LabelIds
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["item", "id"])]


class ImportJob(BackgroundJob):
    """An import of files or a table into a project, run by a worker; progress and errors are kept here."""

    class Kind(models.TextChoices):
        TABLE = "table"
        IMAGES = "images"
        ARCHIVE = "archive"  # a Loupe project archive restored into a new, empty project

    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all_or_nothing", "Import nothing if any row or file is bad"
        VALID_ONLY = "valid_only", "Import the valid rows and files, report the others"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ALL_OR_NOTHING)
    options = models.JSONField(default=dict)  # schemas.ImportOptions
    source_dir = models.CharField(max_length=500)  # where the uploaded files wait, in storage
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)  # schemas.ImportProblems, the first ones
    error_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    @property
    def task_name(self) -> str:
        return "annotation.tasks.run_import"

    @classmethod
    def sweepable(cls) -> Q:
        return ~Q(source_dir="")  # command-line imports run in their own process, never on a worker


class ExportJob(BackgroundJob):
    """An export of a project (or a filtered part of it) to a file in storage, run by a worker."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=16)  # annotation.io.exporters.FORMATS
    filters = models.JSONField(default=dict)  # schemas.ExportFilters
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/", blank=True, max_length=500)

    class Meta:
        ordering = ["-id"]

    @property
    def task_name(self) -> str:
        return "annotation.tasks.run_export"


class Ranking(models.Model):
    """One ordering of a project's queue, written by active learning beside the one being served: its head (the
    first few thousand unlabeled items, with why each is there) as RankedItem rows, inserted before the ranking
    becomes current by one update of `Project.current_ranking`. Annotators see the old order or the new, never
    a mix, and writing a ranking never locks the item rows the queue hands out."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rankings")
    run_id = models.BigIntegerField(null=True)  # the learning run that made it
    size = models.PositiveIntegerField(default=0)  # RankedItem rows
    created_at = models.DateTimeField(auto_now_add=True)


class RankedItem(models.Model):
    """An item's place in a ranking's head: `rank` 1 is served first."""

    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="entries", db_index=False)
    rank = models.PositiveIntegerField()
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+", db_index=False)
    priority = models.FloatField()
    insight = models.JSONField(null=True)  # schemas.ItemInsight

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ranking", "rank"], name="one_item_per_rank"),
            models.UniqueConstraint(fields=["ranking", "item"], name="one_rank_per_item"),
        ]
        indexes = [models.Index(fields=["item"], name="ranked_item_item")]  # item deletion cascades through it


class ExternalPrediction(models.Model):
    """Another model's answer for an item, imported by a manager (annotation.predictions): shown to annotators as
    a suggestion beside Loupe's own, compared with their answers (its acceptance rate) and read by rankings as a
    disagreement signal. One per item and source; a new import of the same source replaces it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="external_predictions")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="external_predictions")
    source = models.CharField(max_length=100)  # the model's name, as the manager gave it
    label_ids = models.JSONField()  # schemas.LabelIds
    score = models.FloatField(null=True)  # the model's confidence in 0..1, when it gave one
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "source"]
        constraints = [models.UniqueConstraint(fields=["item", "source"], name="one_prediction_per_item_and_source")]
        indexes = [models.Index(fields=["project", "source"], name="external_prediction_source")]
