"""Lists: pagination, every filter, date spellings, ordering and run states."""

import datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import webtest
from sqlalchemy import insert, select

from jobrunner.app import main
from jobrunner.jobs.models import Run
from tests.conftest import Signer, login_with_form


API = "/api/job_runner/v1"
UTC = datetime.UTC
T0 = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def at(hour, minute=0):
    return datetime.datetime(2024, 1, 1, hour, minute, tzinfo=UTC)


def ids(response):
    return [o["id"] for o in response.json["objects"]]


def query_of(url):
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def admin(factory, sign):
    return sign(factory.admin_key())


@pytest.fixture
def job(factory):
    pool = factory.pool()
    return factory.job(factory.template(factory.project(pools=[pool])), pool)


def add_completed_runs(dbsession, job, count):
    """Insert ``count`` completed runs, one minute apart from T0, in one go."""
    rows = [
        {
            "job_id": job.id,
            "schedule_dts": T0 + datetime.timedelta(minutes=i),
            "enqueue_dts": T0 + datetime.timedelta(minutes=i, seconds=1),
            "start_dts": T0 + datetime.timedelta(minutes=i, seconds=2),
            "return_dts": T0 + datetime.timedelta(minutes=i, seconds=3),
            "return_success": True,
            "is_manual": False,
            "schedule_children": True,
        }
        for i in range(count)
    ]
    dbsession.execute(insert(Run), rows)
    dbsession.commit()
    return list(
        dbsession.scalars(select(Run.id).where(Run.job_id == job.id).order_by(Run.id))
    )


class TestPagination:
    def test_the_default_page_holds_twenty(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 25)

        response = admin.get(f"{API}/run/")

        assert response.json["meta"] == {
            "limit": 20,
            "offset": 0,
            "total_count": 25,
            "next": f"{API}/run/?limit=20&offset=20",
            "previous": None,
        }
        assert ids(response) == run_ids[:20]

    def test_the_last_page_has_no_next_and_a_previous(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 25)

        response = admin.get(f"{API}/run/?offset=20")

        assert response.json["meta"] == {
            "limit": 20,
            "offset": 20,
            "total_count": 25,
            "next": None,
            "previous": f"{API}/run/?limit=20&offset=0",
        }
        assert ids(response) == run_ids[20:]

    def test_following_next_visits_every_object_once(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 11)
        seen, url = [], f"{API}/run/?limit=3"

        while url:
            response = admin.get(url)
            seen += ids(response)
            url = response.json["meta"]["next"]

        assert seen == run_ids

    def test_following_previous_walks_back(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 7)
        first = admin.get(f"{API}/run/?limit=3&offset=4")

        back = admin.get(first.json["meta"]["previous"])

        assert ids(first) == run_ids[4:7]
        assert ids(back) == run_ids[1:4]
        assert back.json["meta"]["previous"] == f"{API}/run/?limit=3&offset=0"

    def test_previous_from_a_short_offset_starts_at_zero(self, admin, dbsession, job):
        add_completed_runs(dbsession, job, 7)

        response = admin.get(f"{API}/run/?limit=5&offset=2")

        assert response.json["meta"]["previous"] == f"{API}/run/?limit=5&offset=0"

    def test_a_limit_of_zero_means_the_maximum(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 25)

        response = admin.get(f"{API}/run/?limit=0")

        assert response.json["meta"]["limit"] == 1000
        assert response.json["meta"]["next"] is None
        assert ids(response) == run_ids

    def test_a_limit_over_the_maximum_is_capped(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 1001)

        response = admin.get(f"{API}/run/?limit=5000")

        assert response.json["meta"]["limit"] == 1000
        assert response.json["meta"]["total_count"] == 1001
        assert ids(response) == run_ids[:1000]
        assert query_of(response.json["meta"]["next"]) == {
            "limit": "1000",
            "offset": "1000",
        }

    def test_a_small_limit_is_kept(self, admin, dbsession, job):
        run_ids = add_completed_runs(dbsession, job, 5)

        response = admin.get(f"{API}/run/?limit=2&offset=1")

        assert response.json["meta"]["limit"] == 2
        assert response.json["meta"]["total_count"] == 5
        assert ids(response) == run_ids[1:3]

    @pytest.mark.parametrize("offset", [5, 6, 100])
    def test_an_offset_at_or_past_the_end_gives_an_empty_page(
        self, admin, dbsession, job, offset
    ):
        add_completed_runs(dbsession, job, 5)

        response = admin.get(f"{API}/run/?limit=2&offset={offset}")

        assert response.json["objects"] == []
        assert response.json["meta"]["total_count"] == 5
        assert response.json["meta"]["next"] is None
        assert query_of(response.json["meta"]["previous"]) == {
            "limit": "2",
            "offset": str(offset - 2),
        }

    def test_an_empty_list(self, admin):
        response = admin.get(f"{API}/run/")

        assert response.json == {
            "meta": {
                "limit": 20,
                "offset": 0,
                "total_count": 0,
                "next": None,
                "previous": None,
            },
            "objects": [],
        }

    def test_next_and_previous_keep_the_filters(self, admin, factory, job):
        runs = [
            factory.run(job, "completed_successful", schedule_dts=at(h))
            for h in range(1, 8)
        ]
        factory.run(job, "completed_with_errors", schedule_dts=at(9))
        query = "state=completed_successful&order_by=-schedule_dts&limit=2&offset=2"

        response = admin.get(f"{API}/run/?{query}")

        expected = {"state": "completed_successful", "order_by": "-schedule_dts"}
        assert query_of(response.json["meta"]["next"]) == {
            **expected,
            "limit": "2",
            "offset": "4",
        }
        assert query_of(response.json["meta"]["previous"]) == {
            **expected,
            "limit": "2",
            "offset": "0",
        }
        assert response.json["meta"]["total_count"] == 7
        assert ids(response) == [runs[4].id, runs[3].id]
        assert ids(admin.get(response.json["meta"]["next"])) == [
            runs[2].id,
            runs[1].id,
        ]

    def test_next_keeps_a_date_filter_with_an_unencoded_plus(self, admin, factory, job):
        runs = [
            factory.run(job, "completed_successful", schedule_dts=at(h))
            for h in range(1, 8)
        ]

        first = admin.get(
            f"{API}/run/?schedule_dts__gte=2024-01-01T05:00:00+02:00&limit=2"
        )
        second = admin.get(first.json["meta"]["next"])

        assert first.json["meta"]["total_count"] == 5
        assert ids(first) == [runs[2].id, runs[3].id]
        assert ids(second) == [runs[4].id, runs[5].id]
        assert ids(admin.get(second.json["meta"]["next"])) == [runs[6].id]


@pytest.fixture(scope="module")
def estimating_wsgi_app(app_settings, dbengine):
    """The application with a count cap of 3 rows."""
    settings = {**app_settings, "api.count_limit": "3"}
    return main({}, dbengine=dbengine, **settings)


@pytest.fixture
def estimating_app(estimating_wsgi_app, dbsession):
    return webtest.TestApp(
        estimating_wsgi_app, extra_environ={"HTTP_HOST": "localhost"}
    )


class TestCappedCount:
    def test_counts_exactly_up_to_the_cap(self, estimating_app, factory, job):
        key = factory.admin_key()
        for hour in range(1, 4):
            factory.run(job, "completed_successful", schedule_dts=at(hour))
        admin = Signer(estimating_app, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?limit=1")

        assert response.json["meta"]["total_count"] == 3
        assert "total_count_is_estimate" not in response.json["meta"]

    # Each caller's scope narrows the query differently (none, the worker's
    # pools, the user's groups); the estimate must cope with every one.
    @pytest.mark.parametrize("caller", ["admin", "worker", "user"])
    def test_past_the_cap_the_count_is_an_estimate(
        self, estimating_app, dbsession, factory, caller
    ):
        group, pool = factory.group(), factory.pool()
        project = factory.project(pools=[pool], groups=[group])
        job = factory.job(factory.template(project), pool)
        add_completed_runs(dbsession, job, 10)
        if caller == "admin":
            key = factory.admin_key()
            get = Signer(estimating_app, key.api_key, key.secret).get
        elif caller == "worker":
            worker = factory.worker(pools=[pool])
            get = Signer(estimating_app, worker.api_key, worker.secret).get
        else:
            factory.user(username="counted", groups=[group])
            login_with_form(estimating_app, "counted")
            get = estimating_app.get

        response = get(f"{API}/run/?state=completed&limit=2")

        assert response.json["meta"]["total_count_is_estimate"] is True
        assert response.json["meta"]["total_count"] > 3
        assert len(response.json["objects"]) == 2

    def test_an_estimate_is_never_below_the_rows_already_paged_past(
        self, estimating_app, dbsession, factory, job
    ):
        key = factory.admin_key()
        add_completed_runs(dbsession, job, 12)
        admin = Signer(estimating_app, key.api_key, key.secret)

        middle = admin.get(f"{API}/run/?limit=2&offset=8").json["meta"]
        last = admin.get(f"{API}/run/?limit=2&offset=10").json["meta"]

        assert middle["total_count_is_estimate"] is True
        assert middle["total_count"] >= 11
        assert middle["next"] is not None
        assert last["total_count"] == 12
        assert last["next"] is None


@pytest.fixture(scope="class")
def catalog(shared_factory):
    """Objects whose every filterable value tells them apart: their ids by name."""
    factory = shared_factory
    pool1 = factory.pool(title="alpha")
    pool2 = factory.pool(title="beta", enqueue_is_enabled=False)
    w1 = factory.worker(
        pools=[pool1], title="w-one", api_key="k1", ping_response_dts=at(11)
    )
    w2 = factory.worker(
        pools=[pool2], title="w-two", api_key="k2", enqueue_is_enabled=False
    )
    prj1 = factory.project(pools=[pool1], title="P1")
    prj2 = factory.project(pools=[pool2], title="P2", enqueue_is_enabled=False)
    t1 = factory.template(prj1, title="T1")
    t2 = factory.template(prj2, title="T2", enqueue_is_enabled=False)
    j1 = factory.job(t1, pool1, title="J1")
    j2 = factory.job(t1, pool1, title="J2", parent=j1, enqueue_is_enabled=False)
    j3 = factory.job(t2, pool2, title="J3")
    e1 = factory.exclude(j1)
    e2 = factory.exclude(j3)
    r11 = factory.run(
        j1,
        "completed_successful",
        worker=w1,
        schedule_dts=at(11),
        enqueue_dts=at(11, 1),
        start_dts=at(11, 2),
        return_dts=at(11, 3),
    )
    r12 = factory.run(
        j2, "completed_with_errors", worker=w1, schedule_dts=at(12), is_manual=True
    )
    r13 = factory.run(
        j3,
        "started",
        worker=w2,
        schedule_dts=at(13),
        enqueue_dts=at(13, 1),
        start_dts=at(13, 2),
        schedule_id="s-1",
    )
    r14 = factory.run(j3, "scheduled", schedule_dts=at(14))
    l11 = factory.run_log(r11)
    l12 = factory.run_log(r12)
    k1 = factory.kill_request(
        r13, schedule_dts=at(12), enqueue_dts=at(12, 1), execute_dts=at(12, 2)
    )
    k2 = factory.kill_request(r12, schedule_dts=at(13))
    key = factory.admin_key(api_key="catalog-admin", secret="catalog-secret")
    return {
        "admin": key,
        "pool1": pool1.id,
        "pool2": pool2.id,
        "w1": w1.id,
        "w2": w2.id,
        "prj1": prj1.id,
        "prj2": prj2.id,
        "t1": t1.id,
        "t2": t2.id,
        "j1": j1.id,
        "j2": j2.id,
        "j3": j3.id,
        "e1": e1.id,
        "e2": e2.id,
        "r11": r11.id,
        "r12": r12.id,
        "r13": r13.id,
        "r14": r14.id,
        "l11": l11.id,
        "l12": l12.id,
        "k1": k1.id,
        "k2": k2.id,
    }


@pytest.fixture
def catalog_admin(catalog, shared_testapp):
    key = catalog["admin"]
    return Signer(shared_testapp, key.api_key, key.secret)


def _filter_cases():
    """(resource, query, names of the objects the list must hold, in order)."""
    uri = "/api/job_runner/v1"
    return [
        ("project", "id={prj2}", ["prj2"]),
        ("project", "title=P1", ["prj1"]),
        ("project", "title=nothing", []),
        ("project", "enqueue_is_enabled=false", ["prj2"]),
        ("project", "enqueue_is_enabled=1", ["prj1"]),
        ("worker_pool", "id={pool1}", ["pool1"]),
        ("worker_pool", "title=beta", ["pool2"]),
        ("worker_pool", "enqueue_is_enabled=true", ["pool1"]),
        ("worker", "id={w2}", ["w2"]),
        ("worker", "title=w-one", ["w1"]),
        ("worker", "api_key=k2", ["w2"]),
        ("worker", "enqueue_is_enabled=no", ["w2"]),
        ("worker", "ping_response_dts=2024-01-01T11:00:00Z", ["w1"]),
        ("worker", "ping_response_dts__lt=2024-01-01T11:00:01Z", ["w1"]),
        ("worker", "ping_response_dts__lte=2024-01-01T11:00:00Z", ["w1"]),
        ("worker", "ping_response_dts__gt=2024-01-01T11:00:00Z", []),
        ("worker", "ping_response_dts__gte=2024-01-01T11:00:00Z", ["w1"]),
        ("worker", "ping_response_dts__isnull=true", ["w2"]),
        ("worker", "ping_response_dts__isnull=false", ["w1"]),
        ("job_template", "id={t1}", ["t1"]),
        ("job_template", "project={prj2}", ["t2"]),
        ("job_template", f"project={uri}/project/{{prj1}}/", ["t1"]),
        ("job_template", "title=T2", ["t2"]),
        ("job_template", "enqueue_is_enabled=false", ["t2"]),
        ("job", "id={j3}", ["j3"]),
        ("job", "job_template={t1}", ["j1", "j2"]),
        ("job", f"job_template={uri}/job_template/{{t2}}/", ["j3"]),
        ("job", "worker_pool={pool2}", ["j3"]),
        ("job", "parent={j1}", ["j2"]),
        ("job", "title=J2", ["j2"]),
        ("job", "enqueue_is_enabled=false", ["j2"]),
        ("job", "project_id={prj1}", ["j1", "j2"]),
        ("job", "project_id={prj2}", ["j3"]),
        ("job", "project_id=999999", []),
        ("job", "project_id={prj1}&title=J1", ["j1"]),
        ("reschedule_exclude", "id={e1}", ["e1"]),
        ("reschedule_exclude", "job={j3}", ["e2"]),
        ("run", "id={r12}", ["r12"]),
        ("run", "job={j3}", ["r13", "r14"]),
        ("run", f"job={uri}/job/{{j1}}/", ["r11"]),
        ("run", "worker={w1}", ["r11", "r12"]),
        ("run", "schedule_id=s-1", ["r13"]),
        ("run", "schedule_dts=2024-01-01T12:00:00Z", ["r12"]),
        ("run", "schedule_dts__lt=2024-01-01T12:00:00Z", ["r11"]),
        ("run", "schedule_dts__lte=2024-01-01T12:00:00Z", ["r11", "r12"]),
        ("run", "schedule_dts__gt=2024-01-01T12:00:00Z", ["r13", "r14"]),
        ("run", "schedule_dts__gte=2024-01-01T12:00:00Z", ["r12", "r13", "r14"]),
        ("run", "enqueue_dts=2024-01-01T12:00:01Z", ["r12"]),
        ("run", "enqueue_dts__lt=2024-01-01T12:00:01Z", ["r11"]),
        ("run", "enqueue_dts__lte=2024-01-01T12:00:01Z", ["r11", "r12"]),
        ("run", "enqueue_dts__gt=2024-01-01T12:00:01Z", ["r13"]),
        ("run", "enqueue_dts__gte=2024-01-01T12:00:01Z", ["r12", "r13"]),
        ("run", "enqueue_dts__isnull=true", ["r14"]),
        ("run", "enqueue_dts__isnull=false", ["r11", "r12", "r13"]),
        ("run", "start_dts=2024-01-01T13:02:00Z", ["r13"]),
        ("run", "start_dts__lt=2024-01-01T13:00:00Z", ["r11", "r12"]),
        ("run", "start_dts__lte=2024-01-01T12:00:02Z", ["r11", "r12"]),
        ("run", "start_dts__gt=2024-01-01T11:02:00Z", ["r12", "r13"]),
        ("run", "start_dts__gte=2024-01-01T13:02:00Z", ["r13"]),
        ("run", "start_dts__isnull=true", ["r14"]),
        ("run", "start_dts__isnull=false", ["r11", "r12", "r13"]),
        ("run", "return_dts=2024-01-01T11:03:00Z", ["r11"]),
        ("run", "return_dts__lt=2024-01-01T12:00:30Z", ["r11"]),
        ("run", "return_dts__lte=2024-01-01T12:00:30Z", ["r11", "r12"]),
        ("run", "return_dts__gt=2024-01-01T11:03:00Z", ["r12"]),
        ("run", "return_dts__gte=2024-01-01T11:03:00Z", ["r11", "r12"]),
        ("run", "return_dts__isnull=true", ["r13", "r14"]),
        ("run", "return_dts__isnull=false", ["r11", "r12"]),
        ("run", "return_success=true", ["r11"]),
        ("run", "return_success=false", ["r12"]),
        ("run", "is_manual=true", ["r12"]),
        ("run", "is_manual=false", ["r11", "r13", "r14"]),
        ("run", "project_id={prj1}", ["r11", "r12"]),
        ("run", "project_id={prj2}", ["r13", "r14"]),
        ("run", "project_id={prj2}&state=scheduled", ["r14"]),
        ("run", "state=started", ["r13"]),
        ("run_log", "id={l12}", ["l12"]),
        ("run_log", "run={r11}", ["l11"]),
        ("kill_request", "id={k2}", ["k2"]),
        ("kill_request", "run={r13}", ["k1"]),
        ("kill_request", "schedule_dts=2024-01-01T13:00:00Z", ["k2"]),
        ("kill_request", "schedule_dts__lt=2024-01-01T13:00:00Z", ["k1"]),
        ("kill_request", "schedule_dts__lte=2024-01-01T13:00:00Z", ["k1", "k2"]),
        ("kill_request", "schedule_dts__gt=2024-01-01T12:00:00Z", ["k2"]),
        ("kill_request", "schedule_dts__gte=2024-01-01T12:00:00Z", ["k1", "k2"]),
        ("kill_request", "enqueue_dts=2024-01-01T12:01:00Z", ["k1"]),
        ("kill_request", "enqueue_dts__lt=2024-01-01T12:02:00Z", ["k1"]),
        ("kill_request", "enqueue_dts__lte=2024-01-01T12:01:00Z", ["k1"]),
        ("kill_request", "enqueue_dts__gt=2024-01-01T12:01:00Z", []),
        ("kill_request", "enqueue_dts__gte=2024-01-01T12:01:00Z", ["k1"]),
        ("kill_request", "enqueue_dts__isnull=true", ["k2"]),
        ("kill_request", "enqueue_dts__isnull=false", ["k1"]),
        ("kill_request", "execute_dts=2024-01-01T12:02:00Z", ["k1"]),
        ("kill_request", "execute_dts__lt=2024-01-01T12:02:00Z", []),
        ("kill_request", "execute_dts__lte=2024-01-01T12:02:00Z", ["k1"]),
        ("kill_request", "execute_dts__gt=2024-01-01T12:00:00Z", ["k1"]),
        ("kill_request", "execute_dts__gte=2024-01-01T12:03:00Z", []),
        ("kill_request", "execute_dts__isnull=true", ["k2"]),
        ("kill_request", "execute_dts__isnull=false", ["k1"]),
    ]


FILTER_CASES = _filter_cases()


class TestFilters:
    @pytest.mark.parametrize(
        ("name", "query", "expected"),
        FILTER_CASES,
        ids=[f"{name}?{query}" for name, query, _ in FILTER_CASES],
    )
    def test_selects_exactly_the_matching_objects(
        self, catalog_admin, catalog, name, query, expected
    ):
        response = catalog_admin.get(f"{API}/{name}/?{query.format(**catalog)}")

        assert ids(response) == [catalog[e] for e in expected]
        assert response.json["meta"]["total_count"] == len(expected)

    @pytest.mark.parametrize(
        "name",
        sorted({name for name, _, _ in FILTER_CASES}),
    )
    def test_every_filter_the_schema_offers_is_exercised(self, catalog_admin, name):
        filtering = catalog_admin.get(f"{API}/{name}/schema/").json["filtering"]
        offered = set()
        for field, lookups in filtering.items():
            if isinstance(lookups, dict):
                offered.add(field)
            else:
                offered |= {
                    field if lookup == "exact" else f"{field}__{lookup}"
                    for lookup in lookups
                }

        exercised = {
            part.split("=", 1)[0]
            for resource, query, _ in FILTER_CASES
            if resource == name
            for part in query.split("&")
        }

        assert offered == exercised


# Ways a client may write 2024-01-01 12:00 UTC in a query string: ISO 8601
# with "T" or a space (raw, %20 or "+"), with or without an offset, and with
# "+" and ":" sent raw or percent-encoded.
NOON_UTC_SPELLINGS = [
    "2024-01-01T12:00:00",
    "2024-01-01T12:00",
    "2024-01-01 12:00:00",
    "2024-01-01%2012:00:00",
    "2024-01-01+12:00:00",
    "2024-01-01T12:00:00Z",
    "2024-01-01T12:00:00z",
    "2024-01-01T12:00:00.000000+00:00",
    "2024-01-01T12:00:00+00:00",
    "2024-01-01T12:00:00%2B00:00",
    "2024-01-01T12%3A00%3A00%2B00%3A00",
    "2024-01-01T14:00:00+02:00",
    "2024-01-01T14:00:00%2B02:00",
    "2024-01-01T14:00:00+0200",
    "2024-01-01T13:00:00+01",
    "2024-01-01 14:00:00+02:00",
    "2024-01-01+14:00:00+02:00",
    "2024-01-01%2014%3A00%3A00%2B02%3A00",
    "2024-01-01T07:00:00-05:00",
    "2024-01-01T07%3A00%3A00-05%3A00",
    "2024-01-01 07:00-05:00",
]


@pytest.fixture(scope="class")
def three_runs(shared_factory):
    """Completed runs scheduled at 11:00, 12:00 and 13:00 UTC, and a key."""
    factory = shared_factory
    pool = factory.pool()
    job = factory.job(factory.template(factory.project(pools=[pool])), pool)
    runs = {
        hour: factory.run(job, "completed_successful", schedule_dts=at(hour)).id
        for hour in (11, 12, 13)
    }
    return runs, factory.admin_key()


class TestDateSpellings:
    @pytest.mark.parametrize("spelling", NOON_UTC_SPELLINGS)
    @pytest.mark.parametrize(
        ("lookup", "hours"),
        [("", [12]), ("__lte", [11, 12]), ("__gte", [12, 13])],
        ids=["exact", "lte", "gte"],
    )
    def test_every_spelling_means_the_same_instant(
        self, three_runs, shared_testapp, spelling, lookup, hours
    ):
        runs, key = three_runs
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?schedule_dts{lookup}={spelling}")

        assert ids(response) == [runs[hour] for hour in hours]

    def test_a_date_alone_means_midnight_utc(self, three_runs, shared_testapp):
        runs, key = three_runs
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?schedule_dts__lt=2024-01-01")

        assert ids(response) == []

    def test_the_authentication_header_signs_the_same_query(
        self, three_runs, shared_testapp
    ):
        runs, key = three_runs
        admin = Signer(shared_testapp, key.api_key, key.secret, "Authentication")

        response = admin.get(f"{API}/run/?schedule_dts__gt=2024-01-01T12:00:00+00:00")

        assert ids(response) == [runs[13]]


@pytest.fixture(scope="class")
def ordered(shared_factory):
    """Runs whose schedule, return time and id orders all differ."""
    factory = shared_factory
    pool = factory.pool()
    template = factory.template(factory.project(pools=[pool]))
    jobs = [factory.job(template, pool, title=t) for t in ("b", "c", "a")]
    made = {}
    for name, job, hour, returned in [
        ("late", jobs[0], 13, at(13, 30)),
        ("early", jobs[1], 11, at(14, 0)),
        ("running", jobs[2], 12, None),
        ("tie", jobs[2], 11, at(11, 30)),
    ]:
        state = "started" if returned is None else "completed_successful"
        times = {"return_dts": returned} if returned else {}
        made[name] = factory.run(job, state, schedule_dts=at(hour), **times).id
    made["jobs"] = [job.id for job in jobs]
    return made, factory.admin_key()


class TestOrdering:
    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            ("", ["early", "tie", "running", "late"]),
            ("schedule_dts", ["early", "tie", "running", "late"]),
            ("-schedule_dts", ["late", "running", "early", "tie"]),
            ("id", ["late", "early", "running", "tie"]),
            ("-id", ["tie", "running", "early", "late"]),
            ("return_dts", ["tie", "late", "early", "running"]),
            ("-return_dts", ["running", "early", "late", "tie"]),
            # Every run started at the same instant: the default order decides.
            ("start_dts", ["early", "tie", "running", "late"]),
        ],
        ids=lambda value: (value or "default") if isinstance(value, str) else None,
    )
    def test_orders_runs_the_same_on_every_backend(
        self, ordered, shared_testapp, order_by, expected
    ):
        made, key = ordered
        admin = Signer(shared_testapp, key.api_key, key.secret)
        query = f"?order_by={order_by}" if order_by else ""

        response = admin.get(f"{API}/run/{query}")

        assert ids(response) == [made[name] for name in expected]

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [("title", [2, 0, 1]), ("-title", [1, 0, 2]), ("-id", [2, 1, 0])],
    )
    def test_orders_jobs_by_title_and_id(
        self, ordered, shared_testapp, order_by, expected
    ):
        made, key = ordered
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/job/?order_by={order_by}")

        assert ids(response) == [made["jobs"][i] for i in expected]

    @pytest.mark.parametrize(
        "order_by", ["nothing", "-description", "--id", "state", "id,title", "ID"]
    )
    def test_refuses_a_field_that_cannot_order(self, ordered, shared_testapp, order_by):
        made, key = ordered
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?order_by={order_by}", status=400)

        assert response.json["status"] == "error"
        assert [(e["location"], e["name"]) for e in response.json["errors"]] == [
            ("querystring", "order_by")
        ]


@pytest.fixture(scope="class")
def states(shared_factory):
    """Runs in every state over four jobs, and two workers' views of them.

    Job a has one run in each state; its failed run returned last. Job b's
    earlier-returning run has the higher id. Job c's only completed run has no
    success flag at all, which counts as an error. Job d runs in another
    pool, seen by the admin key but not by the worker of the first pool.
    """
    factory = shared_factory
    pool, other_pool = factory.pool(), factory.pool()
    template = factory.template(factory.project(pools=[pool, other_pool]))
    a, b, c = (factory.job(template, pool, title=t) for t in "abc")
    d = factory.job(template, other_pool, title="d")
    minutes = datetime.timedelta(minutes=1)

    def run(job, state, **kw):
        return factory.run(job, state, **kw).id

    made = {
        "a_scheduled": run(a, "scheduled"),
        "a_in_queue": run(a, "in_queue"),
        "a_started": run(a, "started"),
        "a_ok": run(a, "completed_successful"),
        "a_failed": run(a, "completed_with_errors", return_dts=T0 + 5 * minutes),
        "b_ok_late": run(b, "completed_successful", return_dts=T0 + 10 * minutes),
        "b_ok_early": run(b, "completed_successful", return_dts=T0 + 2 * minutes),
        "c_scheduled": run(c, "scheduled"),
        "c_no_flag": run(c, "completed_with_errors", return_success=None),
        "d_ok": run(d, "completed_successful"),
    }
    worker = factory.worker(pools=[pool])
    return made, factory.admin_key(), worker


STATE_CASES = [
    ("scheduled", ["a_scheduled", "c_scheduled"]),
    ("in_queue", ["a_in_queue"]),
    ("started", ["a_started"]),
    ("completed", ["a_ok", "a_failed", "b_ok_late", "b_ok_early", "c_no_flag", "d_ok"]),
    ("completed_successful", ["a_ok", "b_ok_late", "b_ok_early", "d_ok"]),
    ("completed_with_errors", ["a_failed", "c_no_flag"]),
    ("completed_with_error", ["a_failed", "c_no_flag"]),
    ("last_completed", ["a_failed", "b_ok_late", "c_no_flag", "d_ok"]),
]


class TestStateFilter:
    @pytest.mark.parametrize(("state", "expected"), STATE_CASES)
    def test_selects_the_runs_in_that_state(
        self, states, shared_testapp, state, expected
    ):
        made, key, _ = states
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?state={state}&order_by=id")

        assert ids(response) == sorted(made[name] for name in expected)

    @pytest.mark.parametrize(
        "state",
        [
            "scheduled",
            "in_queue",
            "started",
            "completed_successful",
            "completed_with_errors",
        ],
    )
    def test_every_selected_run_renders_that_state(self, states, shared_testapp, state):
        made, key, _ = states
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?state={state}")

        assert response.json["objects"]
        assert {o["state"] for o in response.json["objects"]} == {state}

    def test_the_states_partition_all_runs(self, states, shared_testapp):
        made, key, _ = states
        admin = Signer(shared_testapp, key.api_key, key.secret)
        partition = ["scheduled", "in_queue", "started", "completed"]

        counts = [
            admin.get(f"{API}/run/?state={s}").json["meta"]["total_count"]
            for s in partition
        ]

        assert sum(counts) == admin.get(f"{API}/run/").json["meta"]["total_count"]
        assert sum(counts) == len(made)

    def test_last_completed_stays_inside_the_callers_scope(
        self, states, shared_testapp
    ):
        made, _, worker = states
        signer = Signer(shared_testapp, worker.api_key, worker.secret)

        response = signer.get(f"{API}/run/?state=last_completed&order_by=id")

        assert ids(response) == sorted(
            made[name] for name in ("a_failed", "b_ok_late", "c_no_flag")
        )

    def test_combines_with_other_filters(self, states, shared_testapp):
        made, key, _ = states
        admin = Signer(shared_testapp, key.api_key, key.secret)

        response = admin.get(f"{API}/run/?state=completed&return_success=true&limit=1")

        assert response.json["meta"]["total_count"] == 4
        assert query_of(response.json["meta"]["next"])["state"] == "completed"
