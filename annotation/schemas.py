"""Typed schemas for every JSON payload the annotation app stores or accepts (validated on write)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator

from annotation.models import DataKind, TaskType
from core.validation import MAX_COLUMN_NAME_CHARS, MAX_COLUMNS, DbId, DisplayName, Text, name_key

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def _label_name_safe(name: str) -> str:
    """Label names become folder names in image exports: no path separators, and not `.` or `..`."""
    if "/" in name or "\\" in name:
        raise ValueError("a label name cannot contain / or \\ (exports use it as a folder name)")
    if set(name) == {"."}:
        raise ValueError("a label name cannot be only dots (exports use it as a folder name)")
    return name


# Names are NFC and free of invisible characters (core.validation), and unique once case folded: two labels,
# projects or columns that look alike are refused.
LabelName = Annotated[DisplayName(100), AfterValidator(_label_name_safe)]
ProjectName = DisplayName(200)
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
Hotkey = Annotated[str, StringConstraints(max_length=1)]  # one letter or digit, or none: see _hotkey_not_reserved
ColumnName = DisplayName(MAX_COLUMN_NAME_CHARS)
MAX_LABELS = 500  # per project, retired labels included
# Keys the labeling page uses itself (Enter submits, S skips, Z undoes, A accepts the suggestion).
RESERVED_HOTKEYS = frozenset("sSzZaA")
# The image viewer's keys (+ and = zoom in, - zooms out; Home fits, arrows move): never a label's key.
VIEWER_KEYS = {"+": "zooms the image in", "=": "zooms the image in", "-": "zooms the image out"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _hotkey_not_reserved(value: str | None) -> str | None:
    if value and value in RESERVED_HOTKEYS:
        raise ValueError(f"'{value}' is reserved by the labeling page (S skip, Z undo, A accept)")
    if value and value in VIEWER_KEYS:
        raise ValueError(f"'{value}' {VIEWER_KEYS[value]} on the labeling page: choose a letter or digit")
    if value and not (value.isascii() and value.isalnum()):
        raise ValueError("a hotkey is one letter (a-z) or digit (0-9)")
    return value


class LabelSpec(_Strict):
    name: LabelName
    color: Color | None = None  # None: the next palette color
    hotkey: Hotkey = ""
    description: Text = Field(default="", max_length=2000)

    _hotkey = field_validator("hotkey")(_hotkey_not_reserved)


class ColumnList(RootModel[Annotated[list[ColumnName], Field(max_length=MAX_COLUMNS)]]):
    @field_validator("root")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        keys = [name_key(name) for name in value]
        duplicates = sorted({name for name, key in zip(value, keys, strict=True) if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"columns listed twice: {', '.join(duplicates)}")
        return value


class ProjectSpec(_Strict):
    """What a new project is made from."""

    name: ProjectName
    data_kind: DataKind
    instructions: Text = Field(default="", max_length=20_000)
    task_type: TaskType = TaskType.SINGLE_LABEL
    labels: list[LabelSpec] = Field(default_factory=list, max_length=MAX_LABELS)
    shown_columns: ColumnList = Field(default_factory=lambda: ColumnList([]))
    feature_columns: ColumnList = Field(default_factory=lambda: ColumnList([]))

    @field_validator("labels")
    @classmethod
    def _labels_unique(cls, labels: list[LabelSpec]) -> list[LabelSpec]:
        names = [name_key(label.name) for label in labels]
        hotkeys = [label.hotkey for label in labels if label.hotkey]
        if len(set(names)) != len(names):
            raise ValueError("label names must be unique (ignoring case and Unicode normalisation)")
        if len(set(hotkeys)) != len(hotkeys):
            raise ValueError("label hotkeys must be unique")
        return labels


class ProjectRename(_Strict):
    name: ProjectName


class AddLabel(_Strict):
    op: Literal["add_label"]
    label: LabelSpec


class UpdateLabel(_Strict):
    op: Literal["update_label"]
    label_id: DbId
    color: Color | None = None
    hotkey: Hotkey | None = None
    description: Text | None = Field(default=None, max_length=2000)

    _hotkey = field_validator("hotkey")(_hotkey_not_reserved)


class RenameLabel(_Strict):
    op: Literal["rename_label"]
    label_id: DbId
    name: LabelName


class RetireLabel(_Strict):
    op: Literal["retire_label"]
    label_id: DbId


class MergeLabels(_Strict):
    op: Literal["merge_labels"]
    source_ids: list[DbId] = Field(min_length=1, max_length=MAX_LABELS)
    target_id: DbId


class SetColumns(_Strict):
    op: Literal["set_columns"]
    shown_columns: ColumnList
    feature_columns: ColumnList


class SetTaskType(_Strict):
    op: Literal["set_task_type"]
    task_type: TaskType


class SchemaOperation(
    RootModel[
        Annotated[
            AddLabel | UpdateLabel | RenameLabel | RetireLabel | MergeLabels | SetColumns | SetTaskType,
            Field(discriminator="op"),
        ]
    ]
):
    """One explicit change to a label schema; each makes a new schema version."""


# What a schema change records (SchemaChange.payload): the operation as applied, with what it found or made.
class AddLabelApplied(AddLabel):
    label_id: int  # the new label


class RenameLabelApplied(RenameLabel):
    old_name: str


class RetireLabelApplied(RetireLabel):
    annotations_kept: int


class MergeLabelsApplied(MergeLabels):
    source_names: list[str]
    target_name: str


class AppliedSchemaChange(
    RootModel[
        Annotated[
            AddLabelApplied
            | UpdateLabel
            | RenameLabelApplied
            | RetireLabelApplied
            | MergeLabelsApplied
            | SetColumns
            | SetTaskType,
            Field(discriminator="op"),
        ]
    ]
):
    """An operation as applied."""


class SchemaChangePayload(RootModel[ProjectSpec | AppliedSchemaChange]):
    """SchemaChange.payload: the project's spec for its first version (`create`), else the operation as applied."""


Scalar = str | int | float | bool | None


class TabularRecord(RootModel[dict[ColumnName, Scalar]]):
    """One row of a table: column name -> typed value (None for a missing value)."""


class LabelIds(RootModel[Annotated[list[DbId], Field(max_length=MAX_LABELS)]]):
    """The labels of one answer, by id, without repeats."""

    @field_validator("root")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("a label is listed twice")
        return value


class Suggestion(_Strict):
    label_ids: list[int]  # the model's answer (one id, or every label it predicts for multi-label)
    confidence: float  # its probability, 0..1 (multi-label: the least certain of the predicted labels)


class ItemInsight(_Strict):
    """Why an item sits where it does in the queue, and what the model thinks of it (Item.insight)."""

    ranking_run: int
    model_version: int | None  # None while no model could be fitted (cold start)
    rank: int  # 1 = the first item the queue hands out
    picked_by: str  # the strategy rule that placed it: typicality, uncertainty, novelty, diversity, random, score
    reason: str  # the same, as a sentence for people
    scores: dict[str, float | None]  # uncertainty, typicality, novelty: each in 0..1 (None: not computable yet)
    # The same scores and the strategy's own order as percentiles among the unlabeled items (what people are
    # shown: raw scores of a young model sit near 1 for nearly every item), and the reason in plain words.
    percentiles: dict[str, float | None] = Field(default_factory=dict)
    explanation: str = ""
    suggestion: Suggestion | None


class DraftPayload(_Strict):
    label_ids: LabelIds
    note: Text = Field(default="", max_length=2000)


DTYPE_PATTERN = r"^(int64|float64|bool|date32|string|timestamp\[us(, tz=UTC)?\]|decimal128\(\d{1,2}, \d{1,2}\))$"
ColumnKind = Literal["numeric", "boolean", "datetime", "categorical", "text"]


class ColumnType(_Strict):
    name: ColumnName
    type: ColumnKind
    # How the stored values read back exactly (annotation.io.tables): int64, float64, decimal128(p, s), bool,
    # date32, timestamp[us], timestamp[us, tz=UTC], string. Absent for columns stored before it existed.
    dtype: str | None = Field(default=None, pattern=DTYPE_PATTERN)


class ImportOptions(_Strict):
    """How to read an import. Tables: format, encoding and delimiter (detected when omitted), the id and label
    columns. Images: labels from the first folder of each path, or from a manifest file (file,label)."""

    format: Literal["csv", "tsv", "jsonl", "parquet"] | None = None
    encoding: Text | None = Field(default=None, max_length=40)
    delimiter: Text | None = Field(default=None, min_length=1, max_length=1)
    id_column: Text | None = Field(default=None, max_length=255)
    label_column: Text | None = Field(default=None, max_length=255)
    labels_from_folders: bool = False
    column_types: dict[ColumnName, ColumnKind] | None = Field(default=None, max_length=1000)  # the preview's choices
    accept_schema_changes: bool = False  # import a table whose columns differ from the project's
    local_path: str | None = None  # CLI only: read from this server-side path instead of uploaded files


class ExportFilters(_Strict):
    status: Literal["open", "done"] | None = None
    label: Text | None = Field(default=None, max_length=100)  # final label name
    annotator: Text | None = Field(default=None, max_length=150)  # username
    agreement_min: float | None = Field(default=None, ge=0, le=1)
    agreement_max: float | None = Field(default=None, ge=0, le=1)
    annotated_after: datetime | None = None
    annotated_before: datetime | None = None


class ImportProblem(_Strict):
    """A line, row or file an import could not take, and why (ImportJob.errors holds the first of them)."""

    where: str  # "line 7", "cats/a.png"
    reason: str


class ImportProblems(RootModel[list[ImportProblem]]):
    """ImportJob.errors."""


class TablePreview(_Strict):
    """The head of a table read without importing it: the column types (inferred or chosen), the first rows, the
    bad lines among them, and how the columns differ from the project's."""

    columns: list[ColumnType]
    rows: list[dict[str, Scalar]]  # typed values; datetimes as ISO 8601 strings
    row_count: int
    errors: list[ImportProblem]
    error_count: int
    encoding: str | None
    delimiter: str | None
    complete: bool  # False when only the head of a longer file was read (row_count counts that head)
    schema_problems: list[str]  # how the columns differ from the project's (empty for a first import)


# --- What the item browser, the item page and the review feedback answer -----------------------------------


class ItemModelView(_Strict):
    """The current ranking's view of an item (absent outside the ranking's head)."""

    rank: int
    uncertainty: float | None
    novelty: float | None
    typicality: float | None
    confidence: float | None  # of the suggestion
    suggestion: list[int]  # label ids the model suggests
    reason: str
    picked_by: str


class LabelIssueView(_Strict):
    given_label_ids: list[int]
    suggested_label_id: int
    confidence: float
    quality: float


class Correction(_Strict):
    item_id: int
    item: str  # its external id
    yours: list[int]
    final: list[int]
    reviewer: str
    comment: str


class ReviewFeedback(_Strict):
    """How reviewers judged one's answers."""

    corrected: int
    sent_back: int
    latest_corrections: list[Correction]


class CorrectionMade(_Strict):
    id: int  # the review that records it
    decision: str
    label_ids: list[int]
