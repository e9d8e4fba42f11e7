"""The OpenAPI document: it covers every route and says what the answers carry."""

import re

import pytest
import schemathesis

from jobrunner.api.resource import API_PREFIX


API = "/api/job_runner/v1"


@pytest.fixture
def document(testapp, factory, sign):
    admin = factory.admin_key()
    return sign(admin).get(f"{API}/openapi.json", status=200).json


def _operations(document):
    return {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_every_api_route_and_method_is_in_the_document(document, wsgi_app):
    operations = _operations(document)

    expected = set()
    for service in wsgi_app.registry.cornice_services.values():
        if not service.path.startswith(API_PREFIX):
            continue
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", service.path)
        for method, _view, _args in service.definitions:
            if method != "HEAD":
                expected.add((path, method.lower()))

    assert expected
    assert expected == set(operations)


def test_schemathesis_reads_every_operation(document):
    schema = schemathesis.openapi.from_dict(document)

    results = list(schema.get_all_operations())

    assert len(results) == len(_operations(document))
    for result in results:
        result.ok()  # raises on an operation it cannot read


def test_versioned_details_take_if_match_and_answer_with_an_etag(document):
    detail = document["paths"][f"{API}/job/{{id}}/"]

    for method in ("put", "patch", "delete"):
        names = [p["name"] for p in detail[method]["parameters"]]
        assert names == ["id", "If-Match"], method
    assert "ETag" in detail["get"]["responses"]["200"]["headers"]
    assert "ETag" in detail["put"]["responses"]["200"]["headers"]
    created = document["paths"][f"{API}/job/"]["post"]["responses"]["201"]
    assert set(created["headers"]) == {"ETag", "Location"}


def test_a_new_worker_and_a_rotated_secret_are_documented_with_the_secret(
    document, factory, sign
):
    schemas = document["components"]["schemas"]
    created = document["paths"][f"{API}/worker/"]["post"]["responses"]["201"]
    rotated = document["paths"][f"{API}/worker/{{id}}/rotate_secret/"]["post"]

    with_secret = {"$ref": "#/components/schemas/worker_with_secret"}
    assert created["content"]["application/json"]["schema"] == with_secret
    assert rotated["responses"]["200"]["content"]["application/json"]["schema"] == (
        with_secret
    )
    extra = schemas["worker_with_secret"]["allOf"][1]
    assert extra["required"] == ["secret"]
    # The plain worker, as every other answer shows it, has no secret.
    assert "secret" not in schemas["worker"]["properties"]


def test_rules_on_nullable_fields_reach_the_request_body(document):
    body = document["paths"][f"{API}/job/"]["post"]["requestBody"]
    fields = body["content"]["application/json"]["schema"]["properties"]

    assert fields["reschedule_interval_type"]["enum"] == [
        "MINUTE",
        "HOUR",
        "DAY",
        "MONTH",
    ]
    assert fields["reschedule_interval_type"]["nullable"] is True
    assert fields["cron_expression"]["maxLength"] == 255
    assert fields["reschedule_interval"]["minimum"] == 1


def test_a_length_on_a_list_counts_its_items(document):
    body = document["paths"][f"{API}/project/"]["post"]["requestBody"]
    addresses = body["content"]["application/json"]["schema"]["properties"][
        "notification_addresses"
    ]

    assert addresses["type"] == "array"
    assert addresses["maxItems"] == 100
    assert "maxLength" not in addresses
    assert addresses["items"]["maxLength"] == 254
    assert addresses["items"]["format"] == "email"


def test_a_password_rule_is_documented_though_the_field_may_be_null(document):
    body = document["paths"][f"{API}/user/"]["post"]["requestBody"]
    password = body["content"]["application/json"]["schema"]["properties"]["password"]

    assert password["nullable"] is True
    assert (password["minLength"], password["maxLength"]) == (8, 72)
