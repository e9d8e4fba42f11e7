"""The HMAC-SHA1 request signature shared by the server and the worker."""

import pytest

from jobrunner import signing


# The vector the original job runner's tests pinned: key "foobar" over
# "POST" + "full_request_path" + "raw_post_data".
VECTOR_SIGNATURE = "9bfd7ed2a963182c4005c851f5f862cc97607f7b"


class TestSignature:
    def test_matches_the_fixed_vector(self):
        result = signing.signature(
            "foobar", "POST", "full_request_path", b"raw_post_data"
        )

        assert result == VECTOR_SIGNATURE

    def test_upper_cases_the_method(self):
        result = signing.signature(
            "foobar", "post", "full_request_path", b"raw_post_data"
        )

        assert result == VECTOR_SIGNATURE

    def test_takes_text_and_bytes_alike(self):
        result = signing.signature(
            b"foobar", "POST", b"full_request_path", "raw_post_data"
        )

        assert result == VECTOR_SIGNATURE

    def test_signs_the_concatenation_of_method_path_and_body(self):
        whole = signing.signature("foobar", "", "POSTfull_request_pathraw_post_data")

        assert whole == VECTOR_SIGNATURE

    @pytest.mark.parametrize(
        ("secret", "method", "full_path", "body"),
        [
            ("foobaR", "POST", "full_request_path", b"raw_post_data"),
            ("foobar", "PUT", "full_request_path", b"raw_post_data"),
            ("foobar", "POST", "full_request_path?a=1", b"raw_post_data"),
            ("foobar", "POST", "full_request_path", b"raw_post_data "),
            ("foobar", "POST", "full_request_path", b""),
        ],
        ids=["secret", "method", "query", "body", "no-body"],
    )
    def test_changes_with_every_part(self, secret, method, full_path, body):
        result = signing.signature(secret, method, full_path, body)

        assert result != VECTOR_SIGNATURE

    def test_is_forty_lower_case_hex_digits(self):
        result = signing.signature("k", "GET", "/api/job_runner/v1/run/")

        assert len(result) == 40
        assert set(result) <= set("0123456789abcdef")


class TestAuthorizationHeader:
    def test_names_the_key_and_the_signature(self):
        header = signing.authorization_header(
            "api_user", "foobar", "POST", "full_request_path", b"raw_post_data"
        )

        assert header == f"ApiKey api_user:{VECTOR_SIGNATURE}"

    def test_parses_back_into_key_and_signature(self):
        header = signing.authorization_header("worker-1", "s3cret", "GET", "/x/?a=b")

        parsed = signing.parse_authorization(header)

        assert parsed == ("worker-1", signing.signature("s3cret", "GET", "/x/?a=b"))


class TestParseAuthorization:
    def test_splits_key_and_signature(self):
        parsed = signing.parse_authorization(f"ApiKey api_user:{VECTOR_SIGNATURE}")

        assert parsed == ("api_user", VECTOR_SIGNATURE)

    def test_lower_cases_an_upper_case_signature(self):
        parsed = signing.parse_authorization(
            f"ApiKey api_user:{VECTOR_SIGNATURE.upper()}"
        )

        assert parsed == ("api_user", VECTOR_SIGNATURE)

    def test_tolerates_surrounding_and_repeated_spaces(self):
        parsed = signing.parse_authorization(f"  ApiKey   api_user:{VECTOR_SIGNATURE} ")

        assert parsed == ("api_user", VECTOR_SIGNATURE)

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "ApiKey",
            f"api_user:{VECTOR_SIGNATURE}",
            f"Basic api_user:{VECTOR_SIGNATURE}",
            f"apikey api_user:{VECTOR_SIGNATURE}",
            f"ApiKey api_user{VECTOR_SIGNATURE}",
            f"ApiKey :{VECTOR_SIGNATURE}",
            "ApiKey api_user:",
            f"ApiKey api_user:{VECTOR_SIGNATURE[:-1]}",
            f"ApiKey api_user:{VECTOR_SIGNATURE}0",
            f"ApiKey api_user:{VECTOR_SIGNATURE[:-1]}g",
            f"ApiKey api user:{VECTOR_SIGNATURE}",
            f"ApiKey api:user:{VECTOR_SIGNATURE}",
            f"ApiKey api_user:{VECTOR_SIGNATURE} extra",
        ],
        ids=[
            "none",
            "empty",
            "scheme-only",
            "no-scheme",
            "other-scheme",
            "lower-case-scheme",
            "no-colon",
            "no-key",
            "no-signature",
            "short-signature",
            "long-signature",
            "not-hex",
            "space-in-key",
            "colon-in-key",
            "trailing-word",
        ],
    )
    def test_refuses_a_malformed_value(self, value):
        parsed = signing.parse_authorization(value)

        assert parsed is None


class TestVerify:
    def test_accepts_the_signature_of_the_request(self):
        given = signing.signature("s3cret", "GET", "/api/?a=1", b"body")

        ok = signing.verify("s3cret", given, "GET", ["/api/?a=1"], b"body")

        assert ok is True

    def test_accepts_a_match_on_any_candidate_path(self):
        given = signing.signature("s3cret", "GET", "/api/?a=%3A")

        ok = signing.verify("s3cret", given, "GET", ["/api/?a=:", "/api/?a=%3A"])

        assert ok is True

    @pytest.mark.parametrize(
        ("secret", "method", "paths", "body"),
        [
            ("other", "GET", ["/api/?a=1"], b"body"),
            ("s3cret", "POST", ["/api/?a=1"], b"body"),
            ("s3cret", "GET", ["/api/?a=2"], b"body"),
            ("s3cret", "GET", ["/api/"], b"body"),
            ("s3cret", "GET", ["/api/?a=1"], b"bodY"),
            ("s3cret", "GET", [], b"body"),
        ],
        ids=["secret", "method", "query", "path", "body", "no-candidates"],
    )
    def test_refuses_any_difference(self, secret, method, paths, body):
        given = signing.signature("s3cret", "GET", "/api/?a=1", b"body")

        ok = signing.verify(secret, given, method, paths, body)

        assert ok is False
