"""The insurance tools: verify the caller, answer from their policy, record a claim, escalate.

Every tool reads and writes the call's fields (``ctx.fields``): verification leaves
``verified``, ``caller_name``, ``policy_number`` and ``vehicles`` there, which the claim intake
and the policy questions rely on; nothing about a policy is returned before it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from artagent.agents import ToolContext, ToolError, ToolResult, tool
from artagent.agents.templates import spell
from rapidfuzz import fuzz

from artagent_insurance.claims import ClaimBook, ClaimRecorded
from artagent_insurance.policies import policy_book, vehicle_name

__all__ = ["TOOLS"]

MAX_ATTEMPTS = 3


class Verify(msgspec.Struct, kw_only=True):
    full_name: Annotated[str | None, msgspec.Meta(description="The caller's full name")] = None
    zip: Annotated[str | None, msgspec.Meta(description="ZIP code of the policy address")] = None
    last_four: Annotated[str | None, msgspec.Meta(description="Last 4 digits of policy or phone")] = None


@tool
async def authenticate_caller(args: Verify, ctx: ToolContext) -> ToolResult:
    """Verify the caller by full name and ZIP code, or by the last four digits of their policy
    or phone number. Call it before discussing any policy detail; at most three attempts."""
    failures = int(ctx.fields.get("auth_failures", 0))
    if failures >= MAX_ATTEMPTS:
        return _refused(ctx)
    book = policy_book()
    holder = None
    if args.full_name and args.zip:
        holder = book.by_name_and_zip(args.full_name, args.zip)
    elif args.last_four:
        found = book.by_last_four(args.last_four)
        holder = found[0] if len(found) == 1 else None
    else:
        return ToolResult(
            ok=False, content={"error": "give the full name and ZIP code, or the last four digits"}
        )
    if holder is None:
        return _failed(ctx, failures + 1)
    vehicles = [{k: v[k] for k in ("year", "make", "model")} for v in holder["vehicles"]]
    ctx.set_outcome("verified")
    ctx.fields.update(
        verified=True,
        caller_name=holder["name"],
        policy_number=holder["policy_number"],
        vehicles=vehicles,
    )
    return ToolResult(
        content={
            "verified": True,
            "caller_name": holder["name"],
            "first_name": holder["name"].split()[0],
            "policy_number": holder["policy_number"],
            "vehicles": [vehicle_name(v) for v in vehicles],
        }
    )


def _failed(ctx: ToolContext, failures: int) -> ToolResult:
    """No policy matches: the attempts left, and on the last one the call goes to a human
    (the tool escalates itself: with an LLM, the limit must not rest on the prompt alone)."""
    ctx.fields["auth_failures"] = failures
    left = max(0, MAX_ATTEMPTS - failures)
    content: dict[str, Any] = {
        "error": "no policy matches those details",
        "attempts_left": left,
        "escalate": left == 0,
        "fields": ["full_name", "zip", "last_four"],
    }
    if left == 0:
        content |= _escalate(ctx)
    return ToolResult(ok=False, content=content)


def _refused(ctx: ToolContext) -> ToolResult:
    """Past the limit nothing is looked up, whatever the details; the caller is (still) for a
    human. After a transfer that failed, a further attempt asks for a human again."""
    content: dict[str, Any] = {
        "error": f"verification refused: {MAX_ATTEMPTS} attempts failed; a human colleague takes over",
        "attempts_left": 0,
        "escalate": True,
    }
    return ToolResult(ok=False, content=content | _escalate(ctx))


def _escalate(ctx: ToolContext) -> dict[str, Any]:
    ctx.escalate(f"caller verification failed {MAX_ATTEMPTS} times")
    return {"escalated": True}


def _verified_policy(ctx: ToolContext) -> dict[str, Any]:
    if not ctx.fields.get("verified"):
        raise ToolError("the caller is not verified yet: verify them first")
    holder = policy_book().by_number(str(ctx.fields.get("policy_number")))
    if holder is None:
        raise ToolError("the verified policy is no longer on file")
    return holder


Topic = Literal["deductible", "roadside", "glass", "rental", "limits", "vehicles", "summary"]


class PolicyQuestion(msgspec.Struct, kw_only=True):
    topic: Annotated[Topic, msgspec.Meta(description="What the caller asks about")] = "summary"


@tool
async def find_policy_info(args: PolicyQuestion, ctx: ToolContext) -> dict[str, Any]:
    """Look up the verified caller's own coverage: deductibles, roadside assistance, glass,
    rental car, liability limits, insured vehicles."""
    holder = _verified_policy(ctx)
    coverage = holder["coverage"]
    rental = coverage["rental_reimbursement"]
    limits = coverage["liability"].split("/")
    return {
        "topic": args.topic,
        "policy_number": holder["policy_number"],
        "collision_deductible": coverage["collision_deductible"],
        "comprehensive_deductible": coverage["comprehensive_deductible"],
        "roadside": coverage["roadside_assistance"]["covered"],
        "towing_miles": coverage["roadside_assistance"]["towing_miles"],
        "glass": coverage["glass"]["covered"],
        "glass_deductible": coverage["glass"]["deductible"],
        "rental": rental is not None,
        "rental_per_day": rental["per_day"] if rental else 0,
        "rental_max": rental["max"] if rental else 0,
        "liability": coverage["liability"],
        "bodily_injury_per_person": int(limits[0]) * 1000,
        "bodily_injury_per_accident": int(limits[1]) * 1000,
        "property_damage": int(limits[2]) * 1000,
        "uninsured_motorist": coverage["uninsured_motorist"],
        "vehicles": [vehicle_name(v) for v in holder["vehicles"]],
    }


class VehicleRef(msgspec.Struct, kw_only=True):
    make: str
    model: str | None = None
    year: int | None = None


class Fnol(msgspec.Struct, kw_only=True):
    """A first notice of loss for an auto accident."""

    caller_name: str
    driver_name: str
    vehicle: VehicleRef
    vehicles_involved: Annotated[int, msgspec.Meta(ge=1, le=20)]
    description: Annotated[str, msgspec.Meta(min_length=3)]
    loss_datetime: Annotated[str, msgspec.Meta(description="When it happened, ISO 8601: 2026-11-30T15:00")]
    loss_street: str
    loss_city: str
    loss_state: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")]
    loss_zip: Annotated[str, msgspec.Meta(pattern=r"^(\d{5})?$")] = ""
    drivable: bool
    passengers: Annotated[int, msgspec.Meta(ge=0, le=50)]
    injuries: bool
    trip_purpose: str
    injury_details: str = ""


def _policy_vehicle(holder: dict[str, Any], wanted: VehicleRef) -> dict[str, Any]:
    """The policy's vehicle the caller means; ToolError listing the insured ones otherwise."""
    best: dict[str, Any] | None = None
    best_score = 0.0
    for vehicle in holder["vehicles"]:
        if wanted.year is not None and wanted.year != vehicle["year"]:
            continue
        score = fuzz.ratio(wanted.make.lower(), vehicle["make"].lower())
        if wanted.model:
            score = (score + fuzz.ratio(wanted.model.lower(), vehicle["model"].lower())) / 2
        if score >= 75 and score > best_score:
            best, best_score = vehicle, score
    if best is None:
        insured = ", ".join(vehicle_name(v) for v in holder["vehicles"])
        raise ToolError(f"that vehicle is not on the policy; the insured vehicles are: {insured}")
    return best


def _loss_time(text: str, now: dt.datetime) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ToolError("loss_datetime must be an ISO 8601 date and time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo)
    if when > now + dt.timedelta(minutes=5):
        raise ToolError("the accident cannot be in the future: ask when it happened again")
    return when


@tool
async def record_fnol(args: Fnol, ctx: ToolContext) -> dict[str, Any]:
    """Record the first notice of loss once every detail is collected and the caller confirmed
    the summary. Returns the claim number to read to the caller digit by digit."""
    holder = _verified_policy(ctx)
    now = ctx.now()
    vehicle = _policy_vehicle(holder, args.vehicle)
    when = _loss_time(args.loss_datetime, now)
    claim: dict[str, Any] = {
        **msgspec.to_builtins(args),
        "policy_number": holder["policy_number"],
        "vehicle": {k: vehicle[k] for k in ("year", "make", "model", "vin")},
        "loss_datetime": when.isoformat(),
        "loss_state": args.loss_state.upper(),
    }
    stored, new = await ClaimBook(ctx.store).record(ctx.call_id, claim, now)
    claim_id = stored["claim_id"]
    if new:
        ctx.emit(
            ClaimRecorded,
            claim_id=claim_id,
            policy_number=holder["policy_number"],
            caller_name=args.caller_name,
            vehicle=vehicle_name(vehicle),
            loss_datetime=when.isoformat(),
            injuries=args.injuries,
        )
    ctx.fields["claim_id"] = claim_id
    ctx.set_outcome("claim_recorded")
    return {"claim_id": claim_id, "claim_id_spoken": spell(claim_id), "already_recorded": not new}


class Reason(msgspec.Struct, kw_only=True):
    reason: str = "the caller asked for a person"


@tool
async def escalate_human(args: Reason, ctx: ToolContext) -> dict[str, Any]:
    """Transfer the caller to a human agent (they ask for one, or verification failed)."""
    ctx.escalate(args.reason)
    return {"transferring": True}


@tool
async def escalate_emergency(args: Reason, ctx: ToolContext) -> dict[str, Any]:
    """Someone is injured or in danger: after telling the caller to call 911, transfer them to
    a human at once."""
    ctx.escalate(f"emergency: {args.reason}")
    return {"transferring": True, "emergency": True}


TOOLS = [authenticate_caller, find_policy_info, record_fnol, escalate_human, escalate_emergency]
