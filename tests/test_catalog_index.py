"""Which service an Argo CD app maps to: by name first, else the first component (by ref)
whose label selector the app's labels all match, whichever of its labels the match starts at."""

from __future__ import annotations

from models.catalog import ARGOCD_APP_NAME, ARGOCD_APP_SELECTOR, Component, ServiceIndex


def _index(*components: tuple[str, dict[str, str]]) -> ServiceIndex:
    return ServiceIndex.build(Component(ref, annotations) for ref, annotations in components)


def test_an_app_maps_by_name_before_any_selector() -> None:
    index = _index(
        ("component:default/a", {ARGOCD_APP_SELECTOR: "team=pay"}),
        ("component:default/b", {ARGOCD_APP_NAME: "checkout"}),
    )
    assert index.argocd_app("checkout", {"team": "pay"}) == "component:default/b"
    assert index.argocd_app("other", {"team": "pay"}) == "component:default/a"


def test_every_pair_of_a_selector_must_match() -> None:
    index = _index(("component:default/a", {ARGOCD_APP_SELECTOR: "team=pay,tier=web"}))
    assert index.argocd_app("x", {"team": "pay"}) is None
    assert index.argocd_app("x", {"team": "pay", "tier": "db"}) is None
    assert index.argocd_app("x", {"tier": "web", "team": "pay", "env": "prod"}) == (
        "component:default/a"
    )
    assert index.argocd_app("x", None) is None


def test_the_first_component_by_ref_wins_whatever_label_its_selector_starts_with() -> None:
    # z's selector starts with a label the app lists first; a's, the first by ref, with another.
    index = _index(
        ("component:default/z", {ARGOCD_APP_SELECTOR: "env=prod"}),
        ("component:default/a", {ARGOCD_APP_SELECTOR: "team=pay,env=prod"}),
        ("component:default/m", {ARGOCD_APP_SELECTOR: "team=pay"}),
    )
    labels = {"env": "prod", "team": "pay"}
    assert index.argocd_app("x", labels) == "component:default/a"
    assert index.argocd_app("x", {"env": "prod"}) == "component:default/z"
    assert index.argocd_app("x", {"team": "pay"}) == "component:default/m"
