"""authz: deny by default; roles grant; keys narrow; /v1/models lists only what is allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.layers.identity_support import exchange, identity_gateway
from vallum.gateway import Gateway
from vallum.identity.model import AuthMethod, Identity, PrincipalKind
from vallum.identity.records import KeySpec, Permission, RoleRecord, TeamRecord
from vallum.layers.authz import Authz
from vallum.pipeline.attachments import MODEL_ACCESS
from vallum.pipeline.exchange import Endpoint


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = identity_gateway()
    await gw.start()
    assert gw.identity is not None
    store = gw.identity.store
    gpt = (Permission(actions=("chat", "models:list"), models=("gpt-4o*",)),)
    await store.put_role(RoleRecord(name="gpt", permissions=gpt), actor="t")
    emb = (Permission(actions=("embeddings",), models=("text-embedding-*",)),)
    await store.put_role(RoleRecord(name="embed", permissions=emb), actor="t")
    await store.put_team(TeamRecord(name="ml", roles=("embed",)), actor="t")
    await gw.identity.cache.reconcile()
    try:
        yield gw
    finally:
        await gw.stop()


async def _run(gateway: Gateway, spec: dict[str, object], **request: object) -> object:
    assert gateway.identity is not None
    record, issued = await gateway.identity.store.create_key(
        KeySpec.model_validate(spec), actor="t"
    )
    await gateway.identity.cache.refresh("key", record.public_id)
    ex = exchange({"x-api-key": issued.reveal()}, **request)  # type: ignore[arg-type]
    return await gateway.pipeline.on_headers(ex) or await gateway.pipeline.on_request(ex), ex


CASES = [
    # (key spec, request, expected code or None) — deny by default, grants, narrowing
    ({}, {"model": "gpt-4o"}, "endpoint_not_allowed"),
    ({"roles": ["gpt"]}, {"model": "gpt-4o-mini"}, None),
    ({"roles": ["gpt"]}, {"model": "claude-3"}, "model_not_allowed"),
    (
        {"roles": ["gpt"]},
        {"model": "gpt-4o", "endpoint": Endpoint.EMBEDDINGS},
        "endpoint_not_allowed",
    ),
    (
        {"roles": ["gpt"], "team": "ml"},
        {"model": "text-embedding-3", "endpoint": Endpoint.EMBEDDINGS},
        None,
    ),
    ({"roles": ["user"], "allowed_models": ["mock-*"]}, {"model": "gpt-4o"}, "model_not_allowed"),
    ({"roles": ["user"], "allowed_models": ["mock-*"]}, {"model": "mock-echo"}, None),
    (
        {"roles": ["user"], "allowed_endpoints": ["embeddings"]},
        {"model": "x"},
        "endpoint_not_allowed",
    ),
    ({"roles": ["reader"]}, {"endpoint": Endpoint.MODELS}, None),
    ({"roles": ["reader"]}, {"model": "gpt-4o"}, "endpoint_not_allowed"),
    ({"roles": ["gpt"], "allowed_models": ["*"]}, {"model": "gpt-4o*"}, None),
    ({"roles": ["gpt"]}, {"model": "gpt-4o\nclaude"}, "model_not_allowed"),
]


@pytest.mark.parametrize(("spec", "request_", "code"), CASES)
async def test_policy_table(
    gateway: Gateway, spec: dict[str, object], request_: dict[str, object], code: str | None
) -> None:
    deny, _ = await _run(gateway, spec, **request_)
    if code is None:
        assert deny is None
    else:
        assert deny is not None and deny.status == 403 and deny.code == code  # type: ignore[attr-defined]


async def test_no_identity_is_denied(gateway: Gateway) -> None:
    layer = gateway.pipeline.layers[1]
    assert isinstance(layer, Authz)
    deny = await layer.on_request(exchange({}))
    assert deny is not None and deny.status == 401


async def test_model_access_filters_the_listing(gateway: Gateway) -> None:
    deny, ex = await _run(gateway, {"roles": ["gpt"]}, endpoint=Endpoint.MODELS)
    assert deny is None
    names = ["gpt-4o", "gpt-4o-mini", "claude-3", "mock-echo"]
    access = ex.attached(MODEL_ACCESS)  # type: ignore[attr-defined]
    assert access is not None
    assert access.only_permitted(names) == ["gpt-4o", "gpt-4o-mini"]


async def test_model_access_is_the_actions_grants_only(gateway: Gateway) -> None:
    # chat on gpt-4o*, embeddings on text-embedding-* (team): a chat call may fall back to
    # gpt-4o* models only, never to the embedding models another grant allows
    deny, ex = await _run(gateway, {"roles": ["gpt"], "team": "ml"}, model="gpt-4o")
    assert deny is None
    access = ex.attached(MODEL_ACCESS)  # type: ignore[attr-defined]
    assert access is not None
    assert access.permits("gpt-4o-mini") and not access.permits("text-embedding-3")


async def test_request_headers_cannot_widen_the_policy(gateway: Gateway) -> None:
    assert gateway.identity is not None
    record, issued = await gateway.identity.store.create_key(KeySpec(roles=("gpt",)), actor="t")
    await gateway.identity.cache.refresh("key", record.public_id)
    ex = exchange(
        {"x-api-key": issued.reveal(), "x-vallum-roles": "user", "x-role": "admin"},
        model="claude-3",
    )
    deny = await gateway.pipeline.on_headers(ex) or await gateway.pipeline.on_request(ex)
    assert deny is not None and deny.code == "model_not_allowed"


async def test_config_roles_and_scope_roles() -> None:
    gw = identity_gateway(
        [
            {
                "type": "authz",
                "roles": {"ops": [{"actions": ["chat"], "models": ["ops-*"]}]},
                "scope_roles": {"vallum.chat": ["ops"]},
            }
        ]
    )
    await gw.start()
    try:
        layer = gw.pipeline.layers[0]
        identity = Identity(
            principal_id="idp:alice",
            kind=PrincipalKind.USER,
            method=AuthMethod.JWT,
            credential_id="idp#1",
            scopes=frozenset({"vallum.chat"}),
        )
        ok = exchange({}, model="ops-large")
        ok.identity = identity
        assert await layer.on_request(ok) is None
        bad = exchange({}, model="gpt-4o")
        bad.identity = identity
        deny = await layer.on_request(bad)
        assert deny is not None and deny.code == "model_not_allowed"
    finally:
        await gw.stop()
