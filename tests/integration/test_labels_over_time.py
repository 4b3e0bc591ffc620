from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Annotation, AnnotationStatus
from annotation.selectors import labels_over_time
from tests.factories import UserFactory, make_annotation, make_image_item
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


def url(personas) -> str:
    return f"/api/v1/projects/{personas.project.id}/insights/labels-over-time/"


def annotate_at(item, annotator, label, when) -> Annotation:
    annotation = make_annotation(item, annotator, label)
    Annotation.objects.filter(id=annotation.id).update(created_at=when)  # auto_now_add: set the past by hand
    return annotation


@pytest.fixture
def history(personas):
    """Annotations 10 days ago (2), 3 days ago (1, and 1 rejected) and now (2), in the main project; one in another."""
    project, now = personas.project, timezone.now()
    cat = project.labels.get(name="cat")
    items = [personas.item] + [make_image_item(project, f"{i}.png", color=(i, 9, 9)) for i in range(4)]
    people = [UserFactory() for _ in range(3)]
    annotate_at(items[0], people[0], cat, now - timedelta(days=10))
    annotate_at(items[1], people[0], cat, now - timedelta(days=10))
    annotate_at(items[2], people[0], cat, now - timedelta(days=3))
    rejected = annotate_at(items[3], people[0], cat, now - timedelta(days=3))
    Annotation.objects.filter(id=rejected.id).update(status=AnnotationStatus.REJECTED)
    annotate_at(items[3], people[1], cat, now)
    annotate_at(items[4], people[2], cat, now)
    other = personas.other_project
    annotate_at(personas.other_item, personas.outsider, other.labels.get(name="cat"), now)
    return personas


def test_daily_counts_fill_empty_days_and_leave_out_rejected_answers(history, django_assert_num_queries):
    with django_assert_num_queries(2):
        result = labels_over_time(project=history.project, bucket="day")

    series = result["series"]
    assert result["bucket"] == "day"
    assert len(series) == 11  # ten days ago through today, every day present
    assert [row["annotations"] for row in series] == [2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2]
    assert series[-1]["start"] == timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    assert result["total"] == 5


def test_auto_takes_days_once_labeling_is_older_than_three_days(history):
    assert labels_over_time(project=history.project)["bucket"] == "day"


def test_hourly_counts_cover_the_last_two_days_at_most(history):
    result = labels_over_time(project=history.project, bucket="hour")

    assert result["bucket"] == "hour"
    assert len(result["series"]) == 48
    assert result["series"][-1]["annotations"] == 2
    assert result["total"] == 2  # older annotations are outside the window


def test_new_project_has_an_empty_series_in_hours(personas):
    assert labels_over_time(project=personas.project) == {"bucket": "hour", "series": [], "total": 0}


def test_every_member_reads_it_and_outsiders_get_404(history):
    for name in ("manager", "reviewer", "annotator"):
        response = client_for(history.user(name)).get(url(history), {"bucket": "day"})
        assert response.status_code == 200, name
        assert response.json()["total"] == 5
    assert client_for(history.outsider).get(url(history)).status_code == 404
    assert client_for(None).get(url(history)).status_code in (401, 403)


def test_unknown_bucket_is_a_400(history):
    response = client_for(history.manager).get(url(history), {"bucket": "week"})

    assert response.status_code == 400
    assert "bucket" in response.json()
