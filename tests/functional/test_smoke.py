def test_root_lists_resources(factory, sign):
    admin = factory.admin_key()

    response = sign(admin).get("/api/job_runner/v1/")

    assert response.json["run"] == {
        "list_endpoint": "/api/job_runner/v1/run/",
        "schema": "/api/job_runner/v1/run/schema/",
    }
