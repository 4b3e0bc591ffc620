import pydantic
import pytest

from annotation.schemas import LabelSpec, ProjectSpec, SchemaOperation, SetColumns


def errors(call) -> dict[tuple, str]:
    with pytest.raises(pydantic.ValidationError) as info:
        call()
    return {error["loc"]: error["msg"] for error in info.value.errors()}


def test_label_spec_trims_name_and_leaves_color_to_the_palette():
    label = LabelSpec(name="  cat ")
    assert (label.name, label.color, label.hotkey) == ("cat", None, "")


@pytest.mark.parametrize(
    ("spec", "loc"),
    [
        ({"name": ""}, ("name",)),
        ({"name": "a", "color": "#12345"}, ("color",)),
        ({"name": "a", "hotkey": "12"}, ("hotkey",)),
        ({"name": "a", "hotkey": "z"}, ("hotkey",)),
        ({"name": "a", "unknown": 1}, ("unknown",)),
    ],
)
def test_label_spec_rejects_bad_fields(spec, loc):
    assert loc in errors(lambda: LabelSpec.model_validate(spec))


def test_project_spec_rejects_duplicate_label_names_ignoring_case():
    found = errors(
        lambda: ProjectSpec.model_validate(
            {"name": "p", "data_kind": "image", "labels": [{"name": "Cat"}, {"name": "cat"}]}
        )
    )
    assert "unique" in found[("labels",)]


def test_schema_operation_dispatches_on_op():
    op = SchemaOperation.model_validate({"op": "merge_labels", "source_ids": [1, 2], "target_id": 3}).root
    assert (op.op, op.source_ids, op.target_id) == ("merge_labels", [1, 2], 3)


def test_schema_operation_names_the_missing_field_of_its_kind():
    assert ("merge_labels", "target_id") in errors(
        lambda: SchemaOperation.model_validate({"op": "merge_labels", "source_ids": [1]})
    )


def test_columns_must_not_repeat():
    found = errors(
        lambda: SetColumns.model_validate({"op": "set_columns", "shown_columns": ["a", "a"], "feature_columns": []})
    )
    assert "listed twice: a" in found[("shown_columns",)]


def test_final_answer_prefers_the_correction_then_a_strict_majority():
    from annotation.agreement import final_answer

    assert final_answer([[1], [1], [2]]) == [1]
    assert final_answer([[1], [2]]) is None  # a tie
    assert final_answer([]) is None
    assert final_answer([[1], [1]], correction=[3, 2, 3]) == [2, 3]


@pytest.mark.parametrize(
    ("hotkey", "message"),
    [
        ("+", "'+' zooms the image in on the labeling page"),
        ("=", "'=' zooms the image in on the labeling page"),
        ("-", "'-' zooms the image out on the labeling page"),
        ("é", "a hotkey is one letter (a-z) or digit (0-9)"),
        (" ", "a hotkey is one letter (a-z) or digit (0-9)"),
    ],
)
def test_a_label_hotkey_never_takes_an_image_viewer_key_or_a_symbol(hotkey, message):
    assert message in errors(lambda: LabelSpec.model_validate({"name": "a", "hotkey": hotkey}))[("hotkey",)]


def test_digits_and_letters_are_label_hotkeys_including_zero():
    assert [LabelSpec.model_validate({"name": "a", "hotkey": key}).hotkey for key in "0x9"] == ["0", "x", "9"]
