"""The REST API under /api/job_runner/v1/: root listing and shared wire format."""

from cornice import Service

from jobrunner.api.resource import API_PREFIX, ApiContext
from jobrunner.security import Permission


root = Service(
    name="api.root",
    path=f"{API_PREFIX}/",
    factory=ApiContext,
    description="The resources of the API, with their list and schema URLs.",
)


@root.get(permission=Permission.READ)
def list_resources(request):
    """Name every resource with its list endpoint and schema, as tastypie did."""
    resources = request.registry["api.resources"]
    return {
        name: {"list_endpoint": r.list_path, "schema": r.schema_path}
        for name, r in sorted(resources.items())
    }


def includeme(config):
    config.registry.setdefault("api.resources", {})
