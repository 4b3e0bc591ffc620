"""Webhooks with a real worker and a real HTTP receiver on this machine: events are delivered signed
(HMAC-SHA256 over the timestamp and the body), retried after a 500, logged attempt by attempt; test-send; loopback
and private addresses refused unless an administrator allows them, at save time and again before each attempt;
redirects never followed."""

import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest
from django.test import Client

from annotation.models import Item
from integrations.models import WebhookDelivery
from tests.integration.conftest import client_for
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
FAST_RETRIES = {"WEBHOOKS_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_S": "1", "WEBHOOK_MAX_ATTEMPTS": "3"}


class Receiver:
    """An HTTP server on 127.0.0.1 answering POSTs with the given status codes in turn (the last one repeats)."""

    def __init__(self, statuses, headers=None):
        self.statuses, self.extra_headers, self.requests = list(statuses), headers or {}, []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = receiver.statuses[min(len(receiver.requests), len(receiver.statuses)) - 1]
                self.send_response(code)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses, headers=None):
        made.append(Receiver(statuses, headers))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _create(api, project, url, events=("annotation.created",)):
    return api.post(f"/api/v1/projects/{project.id}/webhooks/", {"url": url, "events": list(events)}, format="json")


def _delivered(delivery_id, statuses=("delivered", "failed")):
    def check():
        delivery = WebhookDelivery.objects.get(id=delivery_id)
        return delivery if delivery.status in statuses else None

    return wait_until(check, 60, f"delivery {delivery_id} to finish")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_loopback_private_and_reserved_urls_are_refused_by_default(personas, url):
    answer = _create(client_for(personas.manager), personas.project, url)
    assert answer.status_code == 400
    assert "private, loopback or reserved" in answer.json()["url"][0]


def test_urls_loupe_cannot_call_are_refused_even_when_private_ones_are_allowed(personas, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    api = client_for(personas.manager)
    assert _create(api, personas.project, "ftp://example.org/hook").status_code == 400
    assert _create(api, personas.project, "http://user:pw@127.0.0.1/hook").status_code == 400
    assert _create(api, personas.project, "http://no-such-host.invalid/hook").status_code == 400
    assert _create(api, personas.project, "http://127.0.0.1/hook", events=["no.such.event"]).status_code == 400
    assert _create(client_for(personas.annotator), personas.project, "http://127.0.0.1/hook").status_code == 403


def test_an_event_is_delivered_signed_and_retried_after_a_500(personas, settings, start_worker, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    start_worker(env=FAST_RETRIES)
    local = receiver([500, 200])
    api = client_for(personas.manager)
    created = _create(api, personas.project, local.url)
    assert created.status_code == 201, created.content
    hook = created.json()

    label = personas.project.labels.first()
    item = Item.objects.get(id=personas.item.id)
    submit = api.post(
        f"/api/v1/projects/{personas.project.id}/annotations/",
        {"item_id": item.id, "label_ids": [label.id]},
        format="json",
    )
    assert submit.status_code == 201, submit.content
    (delivery,) = WebhookDelivery.objects.filter(webhook_id=hook["id"])
    delivery = _delivered(delivery.id)

    assert delivery.status == "delivered"
    assert [attempt["status"] for attempt in delivery.log] == [500, 200]
    assert len(local.requests) == 2
    first, second = local.requests
    assert first["body"] == second["body"]
    payload = json.loads(second["body"])
    assert payload["event"] == "annotation.created"
    assert payload["data"] == {
        "annotation_id": submit.json()["id"],
        "item_id": item.id,
        "annotator": "manager",
        "label_ids": [label.id],
    }
    headers = second["headers"]
    timestamp = int(headers["X-Loupe-Timestamp"])
    assert abs(time.time() - timestamp) < 60
    expected = hmac.new(hook["secret"].encode(), f"{timestamp}.".encode() + second["body"], hashlib.sha256)
    assert headers["X-Loupe-Signature"] == f"sha256={expected.hexdigest()}"
    assert headers["X-Loupe-Event"] == "annotation.created"
    retried_after = int(second["headers"]["X-Loupe-Timestamp"]) - int(first["headers"]["X-Loupe-Timestamp"])
    assert retried_after >= 1  # the back-off's first step

    log = api.get(f"/api/v1/projects/{personas.project.id}/webhooks/{hook['id']}/deliveries/").json()["results"]
    assert [(d["event"], d["status"], d["attempts"]) for d in log] == [("annotation.created", "delivered", 2)]


def test_the_test_button_sends_a_ping(personas, settings, start_worker, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    start_worker(env=FAST_RETRIES)
    local = receiver([204])
    api = client_for(personas.manager)
    hook = _create(api, personas.project, local.url).json()
    sent = api.post(f"/api/v1/projects/{personas.project.id}/webhooks/{hook['id']}/test/")
    assert sent.status_code == 202
    assert _delivered(sent.json()["id"]).status == "delivered"
    assert json.loads(local.requests[0]["body"])["event"] == "ping"


def test_redirects_are_not_followed(personas, settings, start_worker, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    start_worker(env=FAST_RETRIES)
    target = receiver([200])
    bouncer = receiver([302], headers={"Location": target.url})
    api = client_for(personas.manager)
    hook = _create(api, personas.project, bouncer.url).json()
    sent = api.post(f"/api/v1/projects/{personas.project.id}/webhooks/{hook['id']}/test/").json()
    delivery = _delivered(sent["id"], statuses=("failed",))
    assert delivery.attempts == 3
    assert delivery.error == "redirects are not followed"
    assert target.requests == []


def test_a_private_address_is_refused_at_delivery_when_the_worker_does_not_allow_it(
    personas, settings, start_worker, receiver
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # allowed when the webhook was saved, no longer where it is sent
    start_worker(env={"WEBHOOK_RETRY_BASE_S": "1"})
    local = receiver([200])
    api = client_for(personas.manager)
    hook = _create(api, personas.project, local.url).json()
    sent = api.post(f"/api/v1/projects/{personas.project.id}/webhooks/{hook['id']}/test/").json()
    delivery = _delivered(sent["id"])
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert "private, loopback or reserved" in delivery.error
    assert local.requests == []


def test_the_dashboard_lists_webhooks_with_a_send_test_button_for_managers(personas, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    hook = _create(client_for(personas.manager), personas.project, "http://127.0.0.1:9/hook").json()
    page = Client()
    page.force_login(personas.manager)
    dashboard = f"/projects/{personas.project.id}/dashboard/"
    assert 'data-testid="webhook-test"' in page.get(dashboard).content.decode()
    pressed = page.post(f"/projects/{personas.project.id}/webhooks/{hook['id']}/test/")
    assert pressed.status_code == 302
    (ping,) = WebhookDelivery.objects.filter(webhook_id=hook["id"])
    assert ping.event == "ping"
    assert "ping: pending" in page.get(dashboard).content.decode()

    labeler = Client()
    labeler.force_login(personas.annotator)
    assert "Webhooks" not in labeler.get(dashboard).content.decode()
    assert labeler.post(f"/projects/{personas.project.id}/webhooks/{hook['id']}/test/").status_code == 403
