"""Replies through the real openai client against the fake server: streamed text, tool calls cut
into fragments, usage, every setting on the wire, Azure's path and credentials, cancellation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from _openai_kit import ask, collect
from artagent.providers import ModelUsage, TextDelta, ToolCallRequest, ToolSpec
from artagent.session.state import Message
from artagent_openai.errors import NoModelAnsweredError
from artagent_openai.router import OpenAIRouter
from fakes.openai_script import Reply, ToolCall
from fakes.openai_server import FakeOpenAIServer

MakeRouter = Callable[..., OpenAIRouter]

LOOKUP = ToolSpec(
    name="lookup_policy",
    description="Find a policy by its number",
    parameters={"type": "object", "properties": {"policy": {"type": "string"}}, "required": ["policy"]},
)


async def test_text_streams_piece_by_piece_and_usage_comes_last(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="Your deductible is 500 dollars.", usage=(42, 7), chunk_delay_s=0.01))
    items = await collect(make_router(), ask())

    assert items == [
        TextDelta("Your"),
        TextDelta(" deductible"),
        TextDelta(" is"),
        TextDelta(" 500"),
        TextDelta(" dollars."),
        ModelUsage(model="gpt-4o", prompt_tokens=42, completion_tokens=7),
    ]
    [request] = openai_server.chat_requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}


async def test_the_first_text_arrives_before_the_response_ends(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text=["Hello.", " One moment."], chunk_delay_s=0.2))
    stream = make_router().stream(ask())
    first = await anext(stream)
    [request] = openai_server.chat_requests
    assert first == TextDelta("Hello.") and not request.finished.is_set()
    assert [item async for item in stream][-1] == ModelUsage(
        model="gpt-4o", prompt_tokens=12, completion_tokens=5
    )


async def test_a_tool_call_split_over_many_chunks_arrives_whole(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    arguments = {"policy": "P-100-200", "note": 'caller says "urgent", café ✓'}
    openai_server.script(
        Reply(
            text="Let me check.",
            tool_calls=[ToolCall("lookup_policy", arguments, id="call_abc", fragment_chars=2)],
        )
    )
    items = await collect(make_router(), ask(tools=[LOOKUP]))

    assert items[:3] == [TextDelta("Let"), TextDelta(" me"), TextDelta(" check.")]
    assert items[3] == ToolCallRequest(id="call_abc", name="lookup_policy", arguments=arguments)
    assert isinstance(items[4], ModelUsage) and len(items) == 5
    fragments = len(json.dumps(arguments, separators=(",", ":"))) // 2
    assert fragments > 20  # it really came in many pieces


async def test_two_tool_calls_in_one_response_with_interleaved_fragments(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    calls = [
        ToolCall("lookup_policy", {"policy": "P-1"}, id="call_1"),
        ToolCall("check_weather", {"zip": "98101", "days": 2}, id="call_2"),
    ]
    openai_server.script(Reply(tool_calls=calls, interleave=True))
    items = await collect(make_router(), ask())

    assert items[:2] == [
        ToolCallRequest(id="call_1", name="lookup_policy", arguments={"policy": "P-1"}),
        ToolCallRequest(id="call_2", name="check_weather", arguments={"zip": "98101", "days": 2}),
    ]
    assert isinstance(items[2], ModelUsage)


async def test_a_tool_call_without_arguments_gets_an_empty_dict(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(tool_calls=[ToolCall("transfer_to_human", "")]))
    items = await collect(make_router(), ask())
    assert items[0] == ToolCallRequest(id="call_0", name="transfer_to_human", arguments={})


async def test_every_setting_given_is_sent_and_unset_ones_are_not(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="A."), Reply(text="B."), Reply(text="C."))
    router = make_router(temperature=0.7, max_tokens=200)
    await collect(router, ask(model="gpt-4.1", temperature=0.2, top_p=0.9, max_tokens=120, tools=[LOOKUP]))
    await collect(router, ask())
    await collect(make_router(kind="compatible", model="llama3.2"), ask())

    given, defaults, bare = (r.body for r in openai_server.chat_requests)
    assert given["model"] == "gpt-4.1"
    assert (given["temperature"], given["top_p"], given["max_completion_tokens"]) == (0.2, 0.9, 120)
    assert given["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup_policy",
                "description": LOOKUP.description,
                "parameters": LOOKUP.parameters,
            },
        }
    ]
    # The router's own defaults fill in what the request leaves unset; top_p has none: not sent.
    assert defaults["model"] == "gpt-4o"
    assert (defaults["temperature"], defaults["max_completion_tokens"]) == (0.7, 200)
    assert "top_p" not in defaults and "tools" not in defaults
    # Nothing set anywhere: nothing sent, the server's defaults apply.
    assert bare["model"] == "llama3.2"
    for key in ("temperature", "top_p", "max_tokens", "max_completion_tokens", "tools"):
        assert key not in bare


async def test_a_compatible_server_gets_max_tokens_and_extra_body(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="Hi."))
    router = make_router(kind="compatible", model="qwen2.5", extra_body={"options": {"num_ctx": 8192}})
    await collect(router, ask(max_tokens=64))
    [request] = openai_server.chat_requests
    assert request.body["max_tokens"] == 64 and "max_completion_tokens" not in request.body
    assert request.body["options"] == {"num_ctx": 8192}


async def test_the_history_is_sent_in_the_chat_format(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup_policy", "arguments": '{"policy":"P-1"}'},
    }
    history = [
        Message(role="system", content="Be brief."),
        Message(role="user", content="My policy is P-1.", agent="intake", at=1.5),
        Message(role="assistant", content="", tool_calls=[call], agent="intake"),
        Message(role="tool", content='{"deductible": 500}', name="lookup_policy", tool_call_id="c1"),
        Message(role="assistant", content="It is 500 dollars.", interrupted=True),
    ]
    openai_server.script(Reply(text="Anything else?"))
    await collect(make_router(), ask().__class__(messages=history))
    [request] = openai_server.chat_requests
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My policy is P-1."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"deductible": 500}'},
        {"role": "assistant", "content": "It is 500 dollars."},
    ]


async def test_azure_uses_the_deployment_path_api_version_and_api_key(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="Hello from Azure.", azure_prelude=True, model="gpt-4o-2024-11-20"))
    items = await collect(
        make_router(kind="azure", deployment="voice-gpt4o", api_version="2024-10-21"), ask()
    )

    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hello", " from", " Azure."]
    assert items[-1] == ModelUsage(model="voice-gpt4o", prompt_tokens=12, completion_tokens=5)
    [request] = openai_server.chat_requests
    assert request.path == "/openai/deployments/voice-gpt4o/chat/completions"
    assert request.deployment == "voice-gpt4o"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "sk-test"
    assert "authorization" not in request.headers


def use_managed_identity(monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer, header: str) -> None:
    """Make DefaultAzureCredential find an App Service managed identity, served by the fake."""
    for variable in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", header)


async def test_azure_without_a_key_uses_an_entra_id_token_from_default_azure_credential(
    openai_server: FakeOpenAIServer, make_router: MakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_managed_identity(monkeypatch, openai_server, openai_server.identity_header)
    openai_server.script(Reply(text="Signed in."), Reply(text="Again."))
    router = make_router(kind="azure", api_key=None)
    assert router.unavailable() is None

    await collect(router, ask())
    await collect(router, ask())

    token_requests = [r for r in openai_server.requests if r.path == "/msi/token"]
    assert len(token_requests) == 1  # the token is cached by azure-identity
    assert token_requests[0].query["resource"] == "https://cognitiveservices.azure.com"
    first, second = openai_server.chat_requests
    assert first.headers["authorization"] == second.headers["authorization"] == "Bearer entra-token-1"
    assert "api-key" not in first.headers


async def test_an_entra_id_sign_in_that_fails_is_reported_and_makes_the_router_unavailable(
    openai_server: FakeOpenAIServer, make_router: MakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_managed_identity(monkeypatch, openai_server, "not-the-header")
    router = make_router(kind="azure", api_key=None, fallback_models=["other-deployment"])
    with pytest.raises(NoModelAnsweredError, match="Microsoft Entra ID gave no token: DefaultAzure"):
        await collect(router, ask())
    assert openai_server.chat_requests == []  # nothing was sent without a token, no fallback tried
    reason = router.unavailable()
    assert reason is not None and reason.startswith("Microsoft Entra ID gave no token")


async def test_closing_the_stream_closes_the_connection(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="This is a long answer the caller interrupts.", chunk_delay_s=0.2))
    stream = make_router().stream(ask())
    assert await anext(stream) == TextDelta("This")
    await stream.aclose()  # what the session does on barge-in
    [request] = openai_server.chat_requests
    assert await openai_server.wait_disconnected(request)
    assert not request.finished.is_set()


async def test_cancelling_the_consumer_cancels_the_request(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="Never heard.", first_chunk_delay_s=30))
    router = make_router(first_token_timeout_s=20.0, timeout_s=30.0)
    task = asyncio.create_task(collect(router, ask()))
    assert await openai_server.wait_for_requests(1)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await openai_server.wait_disconnected(openai_server.chat_requests[0])
