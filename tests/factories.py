"""Test data built through the same services the product uses."""

import hashlib
import io

import factory
from django.core.files.base import ContentFile
from PIL import Image

from annotation import services
from annotation.models import Annotation, DataKind, Item, Membership, Project, RankedItem, Ranking, Role
from core.models import User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_project(*, owner: User, name: str = "Cats", data_kind: str = DataKind.IMAGE, **spec) -> Project:
    labels = spec.pop("labels", [{"name": "cat", "hotkey": "1"}, {"name": "dog", "hotkey": "2"}])
    return services.project_create(creator=owner, spec={"name": name, "data_kind": data_kind, "labels": labels, **spec})


def add_member(project: Project, user: User, role: str) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_image_item(project: Project, name: str = "a.png", color=(200, 30, 30)) -> Item:
    data = png_bytes(color)
    item = Item(project=project, external_id=name, width=16, height=12, content_hash=hashlib.sha256(data).hexdigest())
    item.image.save(name, ContentFile(data), save=False)
    item.save()
    return item


def make_annotation(item: Item, annotator: User, *labels) -> Annotation:
    annotation = Annotation.objects.create(item=item, annotator=annotator, schema_version=item.project.schema_version)
    annotation.labels.set(labels)
    return annotation


__all__ = ["PASSWORD", "Role", "UserFactory", "add_member", "make_annotation", "make_image_item", "make_project"]


def most_novel_items(project: Project, n: int) -> list[Item]:
    """The project's first n items in the default strategy's novelty ranking (worst reconstructed first, outliers
    held back to the end), from its latest embedding: what its exploration picks, in that order."""
    from active_learning import artifacts
    from active_learning.core.ranking import strategy_from_spec
    from active_learning.models import LearningRun
    from active_learning.training import engine_kind
    from annotation.models import JobStatus

    embed = LearningRun.objects.filter(project=project, kind="embed", status=JobStatus.DONE).latest("id")
    arrays = artifacts.load(embed.artifact)
    strategy = strategy_from_spec("adaptive", random_state=0, data_kind=engine_kind(project)).fit(arrays["embedding"])
    ranking = strategy.explore_.exploration_order(arrays["reconstruction_error"])
    ids = arrays["item_ids"][ranking[:n]].tolist()
    items = Item.objects.in_bulk(ids)
    return [items[item_id] for item_id in ids]


def rank_queue(project: Project, items: list[Item], insights: dict[int, dict] | None = None) -> Ranking:
    """Make `items`, in this order, the head of the project's current ranking; `insights`: item id -> insight."""
    ranking = Ranking.objects.create(project=project, size=len(items))
    RankedItem.objects.bulk_create(
        RankedItem(ranking=ranking, rank=rank, item=item, priority=1.0 / rank, insight=(insights or {}).get(item.id))
        for rank, item in enumerate(items, start=1)
    )
    Project.objects.filter(id=project.id).update(current_ranking=ranking)
    return ranking
