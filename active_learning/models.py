from django.conf import settings
from django.db import models

from annotation.models import Item, Project
from core.models import BackgroundJob


class StrategySetting(models.Model):
    """A project's strategy and budget (schemas.StrategySpec). Never edited: each change is a new row, and the
    latest is in force from the next ranking on."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="strategy_settings")
    version = models.PositiveIntegerField()
    spec = models.JSONField()  # schemas.StrategySpec, as validated
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="one_strategy_per_version")]


class LearningRun(BackgroundJob):
    """Background work of active learning, run by a worker and claimed like every background job (core.jobs):

    - embed: train the project's autoencoder, embed every item; arrays go to storage at `artifact`;
    - rank: refit the classifier on the labels so far, re-rank the queue (Item.priority/insight), a ModelVersion;
    - simulate: replay strategies on the labeled items; learning curves in `result`.
    """

    class Kind(models.TextChoices):
        EMBED = "embed", "Train autoencoder and embed items"
        RANK = "rank", "Refit classifier and re-rank"
        SIMULATE = "simulate", "Replay strategies on labeled items"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="learning_runs")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=32)  # import, request, labels, embedding, strategy
    embedding = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    setting = models.ForeignKey(StrategySetting, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    params = models.JSONField(default=dict)  # simulate: schemas.SimulationSpec; {} for the other kinds
    progress = models.FloatField(default=0.0)  # 0..1
    message = models.CharField(max_length=200, blank=True)  # what it is doing now, for the UI
    n_items = models.PositiveIntegerField(default=0)
    n_labels = models.PositiveIntegerField(default=0)
    artifact = models.CharField(max_length=500, blank=True)  # embed: .npz in storage, keyed by run id
    result = models.JSONField(default=dict)  # schemas.EmbedResult, RankResult or SimulationResult; {} until done
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "kind", "status", "-id"], name="learning_run_latest")]
        constraints = [  # concurrent requests (submits completing the same batch) share one run
            models.UniqueConstraint(
                fields=["project", "kind"],
                condition=models.Q(kind__in=["embed", "rank"], status__in=["queued", "running"]),
                name="one_pending_embed_or_rank_run",
            )
        ]

    @property
    def task_name(self) -> str:
        tasks = {self.Kind.EMBED: "run_embed", self.Kind.RANK: "run_rank", self.Kind.SIMULATE: "run_simulate"}
        return f"active_learning.tasks.{tasks[self.kind]}"


class ModelVersion(models.Model):
    """One classifier fit (by a rank run): its cross-validated figures on the labels it saw."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    run = models.OneToOneField(LearningRun, on_delete=models.CASCADE, related_name="model_version")
    version = models.PositiveIntegerField()
    n_labels = models.PositiveIntegerField()
    classifier = models.CharField(max_length=64)
    cv_accuracy = models.FloatField(null=True)
    cv_macro_f1 = models.FloatField(null=True)
    cv_folds = models.PositiveSmallIntegerField(default=0)
    per_class = models.JSONField(default=dict)  # label id -> schemas.ClassFigures
    files = models.JSONField(default=dict)  # schemas.ModelFiles; empty for versions made before downloads
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="one_model_per_version")]


class LabelIssue(models.Model):
    """A labeled item whose final label the model confidently disagrees with (confident learning), found by a
    rank run; each run replaces the previous run's list."""

    run = models.ForeignKey(LearningRun, on_delete=models.CASCADE, related_name="label_issues")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    given_label_ids = models.JSONField()  # schemas.LabelIds
    suggested_label_id = models.BigIntegerField()
    confidence = models.FloatField()  # the model's out-of-fold probability of its suggestion
    quality = models.FloatField()  # out-of-fold probability of the given label: low = likely wrong
    rank = models.PositiveIntegerField()

    class Meta:
        ordering = ["run_id", "rank"]


class DriftAlert(models.Model):
    """New items that differ from the data already there (drift.mmd_permutation_test in the embedding), found by
    the embed run after an import. While open, rankings give a share of each batch to its most novel items; it is
    covered once enough of them are labeled."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="drift_alerts")
    run = models.OneToOneField(LearningRun, on_delete=models.CASCADE, related_name="drift_alert")
    n_new = models.PositiveIntegerField()
    n_reference = models.PositiveIntegerField()
    statistic = models.FloatField()
    threshold = models.FloatField()
    p_value = models.FloatField()
    alpha = models.FloatField()
    novel_item_ids = models.JSONField()  # schemas.LabelIds-like list of item ids, most novel first
    region = models.JSONField(default=dict)  # on the embedding map: {"center": [x, y], "min": [x, y], "max": [x, y]}
    needed = models.PositiveIntegerField()  # labels among novel_item_ids that cover it
    covered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
