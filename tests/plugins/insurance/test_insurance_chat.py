"""The insurance scenario offline: scripted conversations through the real `artagent chat`
(a subprocess with its own embedded Redis), answered by the flows engine, the insurance tools
and the demo policyholders. Each asserts what the caller would hear, in order, and how the call
ended; claims recorded are then read back with `artagent insurance claims`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ARTAGENT = Path(sys.executable).parent / "artagent"


@dataclass(frozen=True)
class Conversation:
    lines: tuple[str, ...]
    expected: tuple[str, ...]
    """Pieces of the transcript, in the order they must appear."""
    ending: str


VERIFIED = "you're verified"
TO_CLAIMS = "-- handoff auth -> fnol_intake (announced)"
TO_INFO = "-- handoff auth -> general_info (announced)"

CONVERSATIONS = {
    "verified by name and ZIP, then a deductible question": Conversation(
        ("John Smith, 98052", "what's my deductible", "no that's all"),
        (VERIFIED, TO_INFO, "collision deductible is 250 dollars", "Goodbye.", "-- call ended: completed"),
        "completed",
    ),
    "verified by the last four digits of the policy, then a claim": Conversation(
        ("the last four of my policy are 0 7 9 4", "I want to file a claim", "it was me", "my bicycle"),
        (
            "Thank you, John, you're verified",
            TO_CLAIMS,
            "Who was driving the vehicle?",
            # the vehicle field's own words (options_say) with the insured vehicles
            "Sorry, I didn't catch that. Your policy lists 2017 Chevrolet Malibu or 2017 Honda Accord.",
        ),
        "caller_hangup",
    ),
    "verified by the last four digits of the phone, two coverage questions": Conversation(
        ("my phone number ends in 5128", "do I have roadside assistance", "am I covered for a rental"),
        (
            "Thank you, Maria",
            "does not include roadside assistance",
            "rental reimbursement pays up to 50 dollars a day, up to 1200 dollars",
        ),
        "caller_hangup",
    ),
    "a failed attempt, then success": Conversation(
        ("John Smith 11111", "John Smith, 98052"),
        ("couldn't find a policy with those details", "Let's try again", VERIFIED),
        "caller_hangup",
    ),
    "three failed attempts, then a human": Conversation(
        ("Bob Jones 12345", "Bob Jones 12345", "Bob Jones 12345", "John Smith 98052"),
        (
            "couldn't find a policy",
            "couldn't find a policy",
            "-- escalation requested",  # events are printed as they happen, the reply once said
            "I still couldn't verify you",
            "-- call ended: escalated",
        ),
        "escalated",
    ),
    "a full claim with several details in one sentence": Conversation(
        (
            "John Smith 98052",
            "I had an accident",
            "I was driving my Honda Accord yesterday at 3 pm on Main Street in Redmond Washington",
            "two cars",
            "another car ran a red light and hit my passenger side",
            "98052",
            "yes it still drives",
            "one passenger",
            "no",
            "commuting",
            "yes that's right",
            "no that's all",
        ),
        (
            TO_CLAIMS,
            "How many vehicles were involved",
            "Let me read that back. John Smith was driving your 2017 Honda Accord, with 2 vehicles involved",
            " at 3 PM, at Main Street, Redmond, WA 98052.",  # the time and the ZIP code too
            "with 1 passenger, and nobody was injured. The trip was a commute. Is that all correct?",
            "-- tool record_fnol ok",
            "Your claim number is C L A, 2 0",
            "Goodbye.",
        ),
        "completed",
    ),
    "a correction in the middle of the form": Conversation(
        (
            "Maria Garcia 78701",
            "I need to report an accident",
            "my husband Carlos Garcia was driving",
            "my Subaru",
            "just the two of us",
            "we hit a deer",
            "last Tuesday at 9 in the morning",
            "actually it was Wednesday",
            "Lamar Boulevard in Austin Texas",
            "I don't know the zip",
            "no, it got towed",
            "none",
            "nobody was hurt",
            "personal errands",
            "yes",
        ),
        (
            "Who was driving the vehicle?",
            "Got it.",
            "No problem. Is your vehicle still drivable?",  # the ZIP code was optional
            "Carlos Garcia was driving your 2022 Subaru Outback",
            "on Wednesday",
            "at 9 AM, at Lamar Boulevard, Austin, TX.",  # no ZIP code given: none read
            "Your vehicle is not drivable, with 0 passengers",
            "The trip was a personal trip.",
            "-- tool record_fnol ok",
        ),
        "caller_hangup",
    ),
    "a correction at the read-back": Conversation(
        (
            "David Johnson 60614",
            "file a claim",
            "it was me",
            "the Jetta",
            "one",
            "I slid into a guard rail on ice",
            "yesterday at 7 am",  # "today at 7 am" is in the future before 7 am in Chicago
            "Clark Street in Chicago Illinois 60614",
            "yes",
            "no passengers",
            "no",
            "commute",
            "no, the city was Evanston",
            "yes",
        ),
        (
            "Clark Street, Chicago, IL",
            "Thanks, I've corrected that.",
            "Clark Street, Evanston, IL",
            "-- tool record_fnol ok",
        ),
        "caller_hangup",
    ),
    "a general question, then a handoff to claims": Conversation(
        (
            "Sarah Williams 30309",
            "I have a question about my policy",
            "is my windshield covered",
            "I want to file a claim",
        ),
        (
            TO_INFO,
            "What would you like to know?",
            "glass damage is covered, with a 0 dollar deductible",
            "-- handoff general_info -> fnol_intake (announced)",
            "Who was driving the vehicle?",
        ),
        "caller_hangup",
    ),
    "an emergency": Conversation(
        ("John Smith 98052", "there was a crash and my passenger is bleeding"),
        ("-- escalation requested", "hang up and call 911 right now", "-- call ended: escalated"),
        "escalated",
    ),
    "a caller who asks for a person in the middle of a claim": Conversation(
        ("Jennifer Anderson 97201", "I want to file a claim", "can I talk to a real person"),
        (
            TO_CLAIMS,
            "-- escalation requested",
            "I'm transferring you to a colleague now",
            "-- call ended: escalated",
        ),
        "escalated",
    ),
    "a wish said before verification is acted on after it": Conversation(
        ("do I have roadside assistance", "James Brown", "10001"),
        (
            "I can help with that in a moment",
            TO_INFO,
            "Thank you, James, you're verified.",
            "does not include roadside",
        ),
        "caller_hangup",
    ),
    "an injury leads to its details": Conversation(
        (
            "Robert Miller 80202",
            "I was in a car accident",
            "I was",
            "my Tesla",
            "three vehicles",
            "a truck merged into my lane",
            "yesterday at 5:30 pm",
            "Larimer Street Denver Colorado 80202",
            "no",
            "two",
            "yes",
            "my daughter has a sore neck",
            "business",
        ),
        (
            "Was anyone injured?",
            "Who was hurt, and how badly?",
            "at 5:30 PM, at Larimer Street, Denver, CO 80202.",
            "someone was injured. The trip was a business trip. Is that all correct?",
        ),
        "caller_hangup",
    ),
}


def chat(config: Path, lines: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARTAGENT), "chat", "--config", str(config), "--scenario", "insurance"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(tmp_path_factory.mktemp("ins"))
    path = folder / "runtime.toml"
    path.write_text(
        f'[runtime]\ndata_dir = "{folder}/state"\n'
        '[agents]\nrouters = ["flows"]\ntimezone = "America/Chicago"\n'
    )
    return path


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_conversation(config: Path, name: str) -> None:
    conversation = CONVERSATIONS[name]
    result = chat(config, conversation.lines)
    assert result.returncode == 0, result.stdout + result.stderr
    transcript = result.stdout
    position = 0
    for piece in conversation.expected:
        found = transcript.find(piece, position)
        assert found >= 0, f"{piece!r} missing (after position {position}) in:\n{transcript}"
        position = found + len(piece)
    assert transcript.rstrip().endswith(f"-- call ended: {conversation.ending}"), transcript


def test_three_failures_escalate_once_and_nothing_is_verified_after(config: Path) -> None:
    """The tool itself hands the call to a human on the third failure; the flows engine does not
    ask a second time, and correct details said after it are never looked up."""
    lines = ("Bob Jones 12345", "last four 0000", "Mary Major 55555", "John Smith 98052")
    result = chat(config, lines)
    transcript = result.stdout
    assert result.returncode == 0, transcript + result.stderr
    assert transcript.count("-- escalation requested") == 1, transcript
    assert "-- tool escalate_human" not in transcript
    assert VERIFIED not in transcript and "> John Smith 98052" not in transcript
    assert transcript.rstrip().endswith("-- call ended: escalated"), transcript


def test_the_claims_recorded_are_listed_and_kept(config: Path) -> None:
    before = subprocess.run(
        [str(ARTAGENT), "insurance", "claims", "--json", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    count = len(before.stdout.splitlines())
    claim = CONVERSATIONS["a full claim with several details in one sentence"]
    assert chat(config, claim.lines).returncode == 0
    after = subprocess.run(
        [str(ARTAGENT), "insurance", "claims", "--json", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    claims = [json.loads(line) for line in after.stdout.splitlines()]
    assert len(claims) == count + 1
    newest = claims[-1]
    year = newest["recorded_at"][:4]  # the claim's own year: the test must not break on New Year's Day
    assert re.fullmatch(rf"CLA-{year}-\d{{6}}", newest["claim_id"]), newest["claim_id"]
    assert newest["policy_number"] == "PA21440794" and newest["caller_name"] == "John Smith"
    assert newest["vehicle"]["model"] == "Accord" and newest["loss_city"] == "Redmond"
    assert newest["passengers"] == 1 and newest["injuries"] is False and newest["trip_purpose"] == "commute"
    text = subprocess.run(
        [str(ARTAGENT), "insurance", "claims", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert newest["claim_id"] in text.stdout and "2017 Honda Accord" in text.stdout
