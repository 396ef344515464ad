"""The Backstage connector reads every catalog entity once, from the API or from YAML files.

API: kinds are asked for in one filter (values of one key are OR'ed), later pages carry the
cursor alone, a repeated cursor is an error, an entity listed twice comes once, a malformed one
is a rejection with its reason; every request is asserted and nothing sleeps for real. Files:
the real catalog-info.yaml, multi-document files, a billion-laughs alias bomb and duplicate keys
rejected (quickly) with the file and document in the reason, YAML 1.2 scalars as Backstage reads
them, and a second definition of an entity refused. Against the sandbox (when it is there):
every entity of the API once, and the files describe the same entities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connectors.backstage import BackstageClient, read_catalog_files
from connectors.http import AuthError, RetryPolicy, SourceError
from connectors.items import Item, Rejection

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads"
URL = "https://backstage.test"
TOKEN = "backstage-secret-token"
KINDS_FILTER = "kind=component,kind=group,kind=user,kind=system"
BY_QUERY = "/api/catalog/entities/by-query"


def _reference(rel: str) -> Path:
    path = REF / rel
    if not path.exists():
        pytest.skip(f"reference payload {rel} not found (the shared folder is not mounted)")
    return path


@dataclass
class Script:
    """Answers scripted exchanges in order and fails on any request it did not expect."""

    exchanges: list[tuple[dict[str, str], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.exchanges, f"unexpected request: {request.url}"
        params, response = self.exchanges.pop(0)
        assert (request.method, request.url.path) == ("GET", BY_QUERY)
        assert dict(request.url.params) == params
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return response

    def assert_done(self) -> None:
        assert not self.exchanges, f"{len(self.exchanges)} expected request(s) never made"


def _client(script: Script, sleeps: list[float] | None = None, url: str = URL) -> BackstageClient:
    return BackstageClient(
        url,
        token=TOKEN,
        transport=httpx.MockTransport(script),
        sleep=(sleeps if sleeps is not None else []).append,
        policy=RetryPolicy(attempts=3, base_s=1.0, cap_s=4.0),
    )


def _entity(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    defaults: dict[str, dict[str, Any]] = {
        "Component": {"type": "service", "lifecycle": "production", "owner": "group:team-a"},
        "Group": {"type": "team", "children": []},
        "User": {"memberOf": ["group:team-a"]},
        "System": {"owner": "group:team-a"},
    }
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {**defaults.get(kind, {}), **spec},
    }


def _page(*items: dict[str, Any], cursor: str | None = None) -> httpx.Response:
    page_info = {"nextCursor": cursor} if cursor else {}
    return httpx.Response(200, json={"items": list(items), "totalItems": 99, "pageInfo": page_info})


# -- the API -----------------------------------------------------------------------------------


def test_kinds_are_asked_for_in_one_filter_and_later_pages_send_the_cursor_alone() -> None:
    script = Script(
        [
            (
                {"filter": KINDS_FILTER, "limit": "2"},
                _page(_entity("Component", "a"), _entity("Group", "team-a"), cursor="c1"),
            ),
            (
                {"cursor": "c1", "limit": "2"},
                _page(_entity("User", "ada"), _entity("System", "shop"), cursor="c2"),
            ),
            ({"cursor": "c2", "limit": "2"}, _page(_entity("Component", "B"))),
        ]
    )
    with _client(script) as client:
        results = list(client.list_entities(limit=2))
    script.assert_done()
    assert [r.key for r in results] == [
        "component:default/a",
        "group:default/team-a",
        "user:default/ada",
        "system:default/shop",
        "component:default/b",  # refs are lower case
    ]
    assert all(isinstance(r, Item) for r in results)


def test_the_recorded_entities_validate_through_the_api_path() -> None:
    roadie = json.loads(
        _reference("backstage/entity_component_roadie_mock_argocd_annotation.json").read_text()
    )["response"]["body"]
    descriptor = yaml.safe_load(
        _reference("backstage/catalog-info.backstage-repo.yaml").read_text()
    )
    script = Script([({"filter": "kind=component", "limit": "500"}, _page(roadie, descriptor))])
    with _client(script) as client:
        results = list(client.list_entities(["Component"]))
    script.assert_done()
    sample, existing = results
    assert isinstance(sample, Item) and sample.key == "component:default/sample-service"
    assert sample.model.metadata.annotations["argocd/app-name"] == "guestbook"
    assert isinstance(existing, Item) and existing.key == "component:default/backstage-existing"


def test_a_cursor_handed_out_twice_is_an_error() -> None:
    script = Script(
        [
            ({"filter": KINDS_FILTER, "limit": "1"}, _page(_entity("Group", "a"), cursor="same")),
            ({"cursor": "same", "limit": "1"}, _page(_entity("Group", "b"), cursor="same")),
        ]
    )
    with _client(script) as client, pytest.raises(SourceError, match="same cursor twice"):
        list(client.list_entities(limit=1))
    script.assert_done()


def test_an_entity_listed_on_two_pages_is_yielded_once() -> None:
    script = Script(
        [
            ({"filter": KINDS_FILTER, "limit": "2"}, _page(_entity("Group", "a"), cursor="c1")),
            ({"cursor": "c1", "limit": "2"}, _page(_entity("Group", "A"), _entity("Group", "b"))),
        ]
    )
    with _client(script) as client:
        keys = [r.key for r in client.list_entities(limit=2)]
    script.assert_done()
    assert keys == ["group:default/a", "group:default/b"]


def test_malformed_entities_are_rejected_with_their_reason_and_the_rest_go_on() -> None:
    nameless = _entity("Group", "x")
    del nameless["metadata"]["name"]
    ownerless = _entity("Component", "orphan")
    del ownerless["spec"]["owner"]
    script = Script(
        [
            (
                {"filter": KINDS_FILTER, "limit": "500"},
                _page(nameless, ownerless, _entity("Component", "fine")),
            )
        ]
    )
    with _client(script) as client:
        first, second, third = client.list_entities()
    script.assert_done()
    assert isinstance(first, Rejection) and first.key == "by-query:page1:item1"
    assert "metadata.name" in first.reason
    assert isinstance(second, Rejection) and second.key == "component:default/orphan"
    assert "owner" in second.reason
    assert isinstance(third, Item)


def test_a_catalog_url_ending_in_api_catalog_is_the_same_backend() -> None:
    script = Script([({"filter": "kind=user", "limit": "500"}, _page(_entity("User", "ada")))])
    with _client(script, url=f"{URL}/api/catalog/") as client:
        assert [r.key for r in client.list_entities(["user"])] == ["user:default/ada"]
    script.assert_done()


def test_a_server_error_is_retried_with_backoff_without_sleeping_for_real() -> None:
    params = {"filter": KINDS_FILTER, "limit": "500"}
    script = Script([(params, httpx.Response(503)), (params, _page(_entity("Group", "a")))])
    sleeps: list[float] = []
    with _client(script, sleeps) as client:
        assert [r.key for r in client.list_entities()] == ["group:default/a"]
    script.assert_done()
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 2.0  # full jitter under base * 2^1


def test_a_refused_token_names_the_variable_and_is_not_retried() -> None:
    script = Script([({"filter": KINDS_FILTER, "limit": "500"}, httpx.Response(401))])
    with _client(script) as client, pytest.raises(AuthError) as raised:
        list(client.list_entities())
    script.assert_done()
    assert "BACKSTAGE_TOKEN" in str(raised.value) and TOKEN not in str(raised.value)


# -- catalog-info.yaml files -------------------------------------------------------------------

BOMB = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: laughs
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
spec: {type: service, lifecycle: production, owner: team-a, laughs: *i}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: after-the-bomb}
spec: {type: team}
"""


def _yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_real_catalog_info_yaml_reads_as_a_component() -> None:
    path = _reference("backstage/catalog-info.backstage-repo.yaml")
    (item,) = list(read_catalog_files(str(path)))
    assert isinstance(item, Item)
    assert item.key == "component:default/backstage-existing"
    assert item.model.metadata.annotations["github.com/project-slug"] == "backstage/backstage"


def test_each_document_of_a_multi_document_file_is_an_item_or_a_rejection(
    tmp_path: Path,
) -> None:
    docs = [
        _entity("Group", "team-a"),
        _entity("User", "ada"),
        {**_entity("Component", "no-owner"), "spec": {"type": "service", "lifecycle": "x"}},
        ["not", "an", "entity"],
        None,  # an empty document after a trailing ---
        _entity("Component", "svc"),
    ]
    path = _yaml(tmp_path / "org.yaml", yaml.safe_dump_all(docs))
    results = list(read_catalog_files(str(path)))
    assert [r.key for r in results] == [
        "group:default/team-a",
        "user:default/ada",
        f"{path}#3",
        f"{path}#4",
        "component:default/svc",
    ]
    no_owner, not_a_mapping = results[2], results[3]
    assert isinstance(no_owner, Rejection)
    assert no_owner.reason.startswith(f"{path} document 3: ") and "owner" in no_owner.reason
    assert isinstance(not_a_mapping, Rejection) and "not list" in not_a_mapping.reason


@pytest.mark.timeout(10)
def test_a_billion_laughs_alias_bomb_is_rejected_without_hanging(tmp_path: Path) -> None:
    path = _yaml(tmp_path / "bomb" / "catalog-info.yaml", BOMB)
    bomb, after = list(read_catalog_files(str(path)))
    assert isinstance(bomb, Rejection) and bomb.key == f"{path}#1"
    assert "aliases are not allowed" in bomb.reason and "document 1" in bomb.reason
    assert bomb.payload is None  # the bomb itself is not kept
    assert isinstance(after, Item) and after.key == "group:default/after-the-bomb"


def test_duplicate_keys_reject_the_document_with_the_line(tmp_path: Path) -> None:
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: first\n"
        "  name: second\nspec: {type: team}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: ok}\nspec: {type: team}\n"
    )
    path = _yaml(tmp_path / "dup.yaml", text)
    duplicate, ok = list(read_catalog_files(str(path)))
    assert isinstance(duplicate, Rejection) and duplicate.key == f"{path}#1"
    assert "duplicate key 'name' at line 5 (first at line 4)" in duplicate.reason
    assert isinstance(ok, Item) and ok.key == "group:default/ok"


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = _yaml(tmp_path / "evil.yaml", "kind: !!python/object/apply:os.system ['true']\n")
    (rejection,) = list(read_catalog_files(str(path)))
    assert isinstance(rejection, Rejection) and "constructor" in rejection.reason


def test_a_syntax_error_rejects_the_rest_of_its_file_but_not_other_files(tmp_path: Path) -> None:
    broken = _yaml(
        tmp_path / "a" / "catalog-info.yaml",
        yaml.safe_dump(_entity("Group", "before")) + "---\nmetadata: [unclosed\n---\nkind: X\n",
    )
    _yaml(tmp_path / "b" / "catalog-info.yaml", yaml.safe_dump(_entity("Group", "other")))
    results = list(read_catalog_files(str(tmp_path / "**" / "*.yaml")))
    assert [r.key for r in results] == [
        "group:default/before",
        f"{broken}#2",
        "group:default/other",
    ]
    syntax = results[1]
    assert isinstance(syntax, Rejection) and "not valid YAML" in syntax.reason


def test_dates_and_yes_stay_strings_as_backstage_reads_them(tmp_path: Path) -> None:
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n"
        "  annotations:\n    example.com/since: 2024-01-01\n    example.com/enabled: yes\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n"
    )
    (item,) = list(read_catalog_files(str(_yaml(tmp_path / "c.yaml", text))))
    assert isinstance(item, Item)
    assert item.model.metadata.annotations == {
        "example.com/since": "2024-01-01",
        "example.com/enabled": "yes",
    }
    json.dumps(item.payload)  # the payload is JSON-able


def test_a_second_definition_of_an_entity_is_rejected(tmp_path: Path) -> None:
    first = _yaml(tmp_path / "a.yaml", yaml.safe_dump(_entity("Group", "team-a")))
    second = _yaml(tmp_path / "b.yaml", yaml.safe_dump(_entity("Group", "Team-A")))
    kept, refused = list(read_catalog_files(str(tmp_path / "*.yaml")))
    assert isinstance(kept, Item) and kept.key == "group:default/team-a"
    assert isinstance(refused, Rejection) and refused.key == f"{second}#1"
    assert f"already defined in {first}#1" in refused.reason


def test_no_matching_catalog_file_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="PAVED_CATALOG_PATH"):
        list(read_catalog_files(str(tmp_path / "*.yaml")))


# -- against the sandbox -------------------------------------------------------------------------


def _world_refs(sb: Any) -> set[str]:
    refs = set()
    for kind, table in (
        ("group", "groups"),
        ("user", "users"),
        ("system", "systems"),
        ("component", "components"),
    ):
        refs |= {
            f"{kind}:default/{name}" for (name,) in sb.world.query(f"SELECT name FROM {table}")
        }
    return refs


def test_every_sandbox_catalog_entity_comes_once_through_the_api(sandbox: Any) -> None:
    env = sandbox.env()
    sleeps: list[float] = []
    with BackstageClient(
        env["BACKSTAGE_URL"], token=env["BACKSTAGE_TOKEN"], sleep=sleeps.append
    ) as client:
        results = list(client.list_entities(limit=7))
    keys = [r.key for r in results]
    assert all(isinstance(r, Item) for r in results)
    assert len(keys) == len(set(keys))
    assert set(keys) == _world_refs(sandbox)
    targets = [target for _method, target in sandbox.servers["backstage"].requests]
    assert len(targets) == -(-len(keys) // 7)
    assert "filter=" in targets[0]
    assert all("cursor=" in t and "filter=" not in t for t in targets[1:])
    assert sleeps == []


def test_sandbox_faults_give_rejections_and_retries_not_failures(sandbox: Any) -> None:
    env = sandbox.env()
    faults = sandbox.servers["backstage"].faults
    faults.burst_429 = 2
    faults.malformed_rate = 1.0
    sleeps: list[float] = []
    with BackstageClient(
        env["BACKSTAGE_URL"], token=env["BACKSTAGE_TOKEN"], sleep=sleeps.append
    ) as client:
        results = list(client.list_entities(limit=10))
    rejected = [r for r in results if isinstance(r, Rejection)]
    assert sleeps == [float(faults.retry_after_seconds)] * 2
    assert len(rejected) == faults.injected["malformed"] > 0
    assert all("metadata.name" in r.reason for r in rejected)
    assert {r.key for r in results if isinstance(r, Item)} < _world_refs(sandbox)


def test_the_sandbox_catalog_files_describe_the_same_entities(sandbox: Any) -> None:
    results = list(read_catalog_files(str(sandbox.world.path / "catalog" / "**" / "*.yaml")))
    assert all(isinstance(r, Item) for r in results), [
        r.reason for r in results if isinstance(r, Rejection)
    ]
    keys = [r.key for r in results]
    assert len(keys) == len(set(keys))
    assert set(keys) == _world_refs(sandbox)
