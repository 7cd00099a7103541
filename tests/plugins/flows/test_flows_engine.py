"""The offline flow engine on an agent of its own (a bicycle shop's repair desk, in
tests/plugins/flows/bikeshop/): each test is a text call through the real orchestrator and
session on virtual time, answered by the flows router, and checks what the caller hears and
what the tools are called with."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from _flows_kit import shop_call
from artagent.events import AgentHandoff, CallEnded, EscalationRequested
from artagent.providers import ModelRequest, TextDelta
from artagent.session.state import SessionState
from artagent.testing import VirtualClock
from artagent_flows.memory import FlowMemory
from artagent_flows.router import FlowRouter

GREETING = "Bike Shop, repairs desk. What is your name?"
CHECK_NAME = "I have Ana Lopez. Is that right?"
ASK_BIKES = "How many bikes need repair?"
ASK_SERVICE = "What needs doing, a tune-up, a flat repair or brakes?"
ASK_WHEN = "When did it stop working? The day and the time, please."
ASK_ZIP = "What is your ZIP code, for pick-up?"
ASK_EXPRESS = "Do you want express service?"
NAMED = ["Ana Lopez", "yes"]


def test_a_form_is_asked_field_by_field_read_back_and_its_tool_called(virtual_clock: VirtualClock) -> None:
    lines = [*NAMED, "two bikes", "a tune up", "yesterday at 5 pm", "I don't know", "yes please", "yes"]
    call = shop_call(virtual_clock, lines)

    assert call.said() == [
        GREETING,
        CHECK_NAME,  # the name field asks for confirmation
        f"Got it. {ASK_BIKES}",
        f"Got it. {ASK_SERVICE}",
        f"Got it. {ASK_WHEN}",
        f"Got it. {ASK_ZIP}",
        f"No problem. {ASK_EXPRESS}",  # the ZIP code is optional: asked once
        "So that's 2 bikes for tune-up, broken since Tuesday, March 3, 2026 at 5 PM, express. "
        "Shall I book it?",
        "Booked. Your ticket is B K, 0 0 4 2.",
    ]
    booking = {
        "customer": "Ana Lopez",
        "bikes": 2,
        "service": "tune-up",
        "broke_at": "2026-03-03T17:00-06:00",
        "express": True,
    }
    assert call.tools() == [("book_repair", booking)]
    assert call.store.collections["bookings"] == {"call-1": {**booking, "zip": ""}}  # what the tool kept


def test_several_answers_in_one_sentence_and_half_a_date(virtual_clock: VirtualClock) -> None:
    lines = [*NAMED, "three bikes with flat tires since yesterday", "around 5 pm", "standard", "no idea"]
    call = shop_call(virtual_clock, lines)

    assert call.said()[3:] == [
        "Got it. And at about what time?",  # bikes and service taken, the day kept for its time
        f"Got it. {ASK_ZIP}",
        f"Got it. {ASK_ZIP}",  # "standard" answers the express question before it is asked
        "No problem. So that's 3 bikes for flat, broken since Tuesday, March 3, 2026 at 5 PM. "
        "Shall I book it?",
    ]
    assert call.harness.session is not None
    fields = call.harness.session.state.fields
    assert (fields["bikes"], fields["service"], fields["broke_at"]) == (3, "flat", "2026-03-03T17:00-06:00")
    assert fields["express"] is False


def test_an_answer_that_gives_nothing_hears_the_agents_own_words_and_the_options(
    virtual_clock: VirtualClock,
) -> None:
    call = shop_call(virtual_clock, [*NAMED, "ten bikes", "one", "something purple", "brakes"])

    assert call.said()[3:] == [
        f"Sorry, that is more than 5. {ASK_BIKES}",  # the validation's reason (phrases.invalid)
        f"Got it. {ASK_SERVICE}",
        # phrases.missed is the agent's own; phrases.options keeps core's default
        f"Hmm, I missed that. The options are tune-up, flat or brakes. {ASK_SERVICE}",
        f"Got it. {ASK_WHEN}",
    ]


def test_corrections_in_the_middle_of_the_form_and_at_the_read_back(virtual_clock: VirtualClock) -> None:
    lines = [
        *NAMED,
        "two bikes",
        "actually it's three bikes",  # while the service is asked
        "brakes",
        "yesterday at 5 pm",
        "60614",
        "no",
        "no, the service was a flat repair",  # at the read-back
        "no",
        "the weather was nice",
        "it was two bikes",
        "yes",
    ]
    call = shop_call(virtual_clock, lines)

    said = call.said()
    assert said[3:5] == [f"Got it. {ASK_SERVICE}", f"Got it. {ASK_SERVICE}"]  # 3 bikes, then the question
    assert said[8].startswith("So that's 3 bikes for brakes,")
    assert said[9].startswith("Thanks, I've corrected that. So that's 3 bikes for flat,")
    assert said[10:12] == ["Sorry about that. What should I correct?", "Which detail should I change?"]
    assert said[12].startswith("So that's 2 bikes for flat,")
    [(_, booking)] = call.tools()
    assert (booking["bikes"], booking["service"], booking["zip"], booking["express"]) == (
        2,
        "flat",
        "60614",
        False,
    )


def test_questions_the_agent_knows_are_answered_and_the_form_goes_on(virtual_clock: VirtualClock) -> None:
    call = shop_call(
        virtual_clock, [*NAMED, "when are you open", "one bike", "flat", "how much does it cost"]
    )

    assert call.said()[2:] == [
        f"Got it. {ASK_BIKES}",
        f"We are open from nine to five, Monday to Saturday. {ASK_BIKES}",
        f"Got it. {ASK_SERVICE}",
        f"Got it. {ASK_WHEN}",
        f"A flat costs 15 dollars. {ASK_WHEN}",  # through the knowledge entry's tool
    ]
    assert call.tools() == [("price_list", {"service": "flat"})]


def test_a_handoff_intent_hands_the_call_to_the_other_agent(virtual_clock: VirtualClock) -> None:
    call = shop_call(virtual_clock, ["I have a question about my invoice", "hello?"])

    [handoff] = call.harness.of(AgentHandoff)
    assert (handoff.from_agent, handoff.to_agent, handoff.kind) == ("booking", "accounts", "announced")
    # announced: the new agent greets, then, with no form, says its fallback; and to anything else
    assert call.said()[1:] == ["Accounts here. I can help with invoices.", "I can help with invoices."]


def test_asking_for_a_person_escalates_with_the_intents_tool(virtual_clock: VirtualClock) -> None:
    call = shop_call(virtual_clock, [*NAMED, "let me talk to a mechanic", "hello?"])

    assert call.said()[-1] == "Sure, I'll get a mechanic for you."
    assert call.tools() == [("call_mechanic", {"reason": "let me talk to a mechanic"})]
    [escalation] = call.harness.of(EscalationRequested)
    assert escalation.agent == "booking"
    assert call.harness.of(CallEnded)[0].reason == "escalated"  # the test channel cannot transfer


def test_an_emergency_is_recognised_from_its_own_words(virtual_clock: VirtualClock) -> None:
    call = shop_call(virtual_clock, [*NAMED, "my son crashed and he is bleeding badly"])

    assert call.said()[-1] == "If anyone is hurt, please call 911. I'm getting a mechanic on the line."
    assert [name for name, _ in call.tools()] == ["call_mechanic"]
    assert call.harness.of(CallEnded)[0].reason == "escalated"


def test_a_failed_tool_asks_again_for_the_field_it_names_then_escalates(virtual_clock: VirtualClock) -> None:
    lines = [*NAMED, "five bikes", "brakes", "yesterday at 5 pm", "no", "no", "yes", "four", "yes", "hello?"]
    call = shop_call(virtual_clock, lines)

    refusal = "Sorry, I couldn't book that: we can take at most 3 bikes at once, so fewer bikes please."
    said = call.said()
    assert said[8] == refusal
    assert said[9].startswith("So that's 4 bikes for brakes")  # only the bikes were asked again
    assert said[10] == refusal  # the second failure of two allowed (attempts: 2)
    assert [name for name, _ in call.tools()] == ["book_repair", "book_repair", "call_mechanic"]
    assert call.harness.of(EscalationRequested)[0].reason == "the form could not be completed"


def test_a_call_resumed_elsewhere_goes_on_with_the_question_pending(virtual_clock: VirtualClock) -> None:
    first = shop_call(virtual_clock, [*NAMED, "two bikes"])
    assert first.harness.session is not None
    saved = msgspec.json.decode(msgspec.json.encode(first.harness.session.state), type=SessionState)

    resumed = shop_call(virtual_clock, ["brakes"], state=saved)

    assert resumed.harness.session is not None and resumed.harness.session.resumed
    assert resumed.said() == [f"Got it. {ASK_WHEN}"]  # the service was the question pending
    assert resumed.harness.session.state.fields["service"] == "brakes"


def test_without_an_agent_the_router_says_what_is_missing() -> None:
    async def answer() -> list[Any]:
        return [item async for item in FlowRouter().stream(ModelRequest(messages=[]))]

    [said] = asyncio.run(answer())
    assert isinstance(said, TextDelta) and said.text.startswith("I can only follow an agent's form")


def test_a_memory_from_another_release_starts_the_form_over() -> None:
    memory = FlowMemory(asked="bikes", order=["customer"])
    raw: dict[str, Any] = {"stale": True}
    memory.save(raw)
    assert FlowMemory.load(raw) == memory and "stale" not in raw
    assert FlowMemory.load({"asked": 5}) == FlowMemory()
