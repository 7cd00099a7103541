"""One response of the flow engine: what the caller just said (or what a tool just returned),
understood against the agent's definition, and what the agent says and does next.

Order of precedence for a caller's words: an emergency or another escalation; the answer to a
read-back or to a confirmation; a handoff or a question the agent knows the answer to (unless
the words answer the question just asked); then the form: corrections, then every field the
answer gives. What is said is built from the YAML's templates only: the agent's questions,
answers and read-back, and for the engine's own words (acknowledgements, "Sorry, I didn't catch
that.", the options) the agent's ``phrases``, whose defaults core's schema gives.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from artagent.agents.definitions import AgentDefinition, FieldSpec, IntentSpec
from artagent.providers import AgentContext, ModelRequest, TextDelta, ToolCallRequest
from artagent.session.state import Message
from uuid_utils import uuid7

from artagent_flows import extract as ex
from artagent_flows.form import Form
from artagent_flows.memory import Awaiting, FlowMemory
from artagent_flows.values import context_for, spoken, understood, validate

__all__ = ["FlowTurn"]

Item = TextDelta | ToolCallRequest
ADDRESS_PARTS = ("street", "city", "state", "zip")
STRONG = 0.85
"""An intent matched at least this well wins over a value read from the same words."""


class FlowTurn:
    def __init__(self, request: ModelRequest, context: AgentContext) -> None:
        self.request, self.ctx = request, context
        self.agent: AgentDefinition = context.definition
        self.memory = FlowMemory.load(context.memory)
        self.form = Form(self.agent.form, context.fields, self.memory) if self.agent.form else None
        self.now = context.now() if context.now else None
        self.spoken: list[str] = []
        self.call: ToolCallRequest | None = None

    # -- the response ------------------------------------------------------------------------
    def run(self) -> Iterator[Item]:
        self._respond()
        self.memory.save(self.ctx.memory)
        text = " ".join(t for t in self.spoken if t)
        if text:
            yield TextDelta(text)
        if self.call is not None:
            yield self.call

    def _respond(self) -> None:
        last = _last(self.request.messages)
        awaiting = self.memory.awaiting
        if (
            awaiting is not None
            and last is not None
            and last.role == "tool"
            and last.tool_call_id == awaiting.id
        ):
            self.memory.awaiting = None
            self._tool_result(awaiting, _result(last.content))
        elif self.ctx.arrived:
            self._arrive()
        elif last is not None and last.role == "user":
            self.memory.awaiting = None
            self._heard(last.content)
        else:
            self._next()

    # -- what the caller said ----------------------------------------------------------------
    def _heard(self, text: str) -> None:
        form, memory = self.form, self.memory
        filling = form is not None and not memory.done and not memory.confirming and not memory.correcting
        values = self._answers(text) if filling else {}
        if self._escalation(text, answered=bool(values)):
            return
        if form is not None and memory.confirming == "form":
            self._read_back(text)
            return
        if form is not None and memory.confirming:
            self._confirm_field(text, form.by_name[memory.confirming])
            return
        if form is not None and memory.correcting:
            self._correcting(text)
            return
        if self._intents(text, answered=bool(values)):
            return
        if form is None or memory.done:
            self._say(self.agent.fallback)
            return
        fixed = self._correction(text, values)
        stored = self._store(values)
        heard = bool(stored or fixed or self.spoken)
        self._next(acknowledge=bool(stored or fixed), missed=not heard)

    def _intents(self, text: str, *, answered: bool) -> bool:
        """A handoff or a question the agent answers; with a gate not yet passed, a handoff is
        remembered for afterwards."""
        handoffs = {
            h.to: h.examples for h in self.agent.handoffs if h.examples and h.to in self.ctx.handoff_tools
        }
        wish = ex.match_intent(text, handoffs) if handoffs else None
        gated = self.form is not None and self.form.spec.gate and not self.memory.done
        if wish is not None and (not answered or wish.score >= STRONG):
            if gated:
                if self.memory.intent is None and not answered:
                    self._say(self._phrase("later"))
                self.memory.intent, self.memory.intent_words = wish.name, text
                return False
            self._handoff(wish.name, text)
            return True
        if gated:
            return False
        known = {str(i): e.examples for i, e in enumerate(self.agent.knowledge)}
        question = ex.match_intent(text, known) if known else None
        if question is not None and not answered:  # "no thanks" to a yes/no question is an answer
            self._answer(int(question.name))
            return True
        return False

    def _escalation(self, text: str, *, answered: bool) -> bool:
        """An emergency, or a wish for a person; words that answer the question asked need a
        clear match ("personal" answers the trip's purpose, it is no request for a person)."""
        pending = self.memory.asked is not None or self.memory.confirming is not None
        for index, intent in enumerate(self.agent.escalations):
            emergency = ex.detect_emergency(text) if intent.name == "emergency" else None
            if emergency is not None and pending and emergency.score < 1.0:
                emergency = None  # "yes, she hurt her neck" answers the question asked
            matched = emergency or ex.match_intent(text, {"it": intent.examples})
            if matched is not None and answered and matched is not emergency and matched.score < STRONG:
                matched = None
            if matched is not None:
                self._say(self._render(intent.say))
                if intent.tool:
                    self._call(intent.tool, {"reason": text}, "escalation", index)
                return True
        return False

    # -- the form ----------------------------------------------------------------------------
    def _understanding(self) -> ex.ExtractContext:
        assert self.now is not None and self.form is not None
        sources = [f.choices_from for f in self.form.spec.fields if f.choices_from]
        return context_for(self.ctx.fields, self.now, sources)

    def _answers(self, text: str) -> dict[str, ex.Extraction]:
        """Every value the words give for the form's open fields, the asked one first; half a
        date and time is kept until the other half comes."""
        assert self.form is not None
        form, asked = self.form, self.memory.asked
        if asked is None and form.missing():  # the greeting asked the first question
            asked = form.missing()[0].name
        fields = [f for f in form.open_fields() if not form.has(f.name) or f.name == asked]
        found = ex.extract_many(
            [understood(f) for f in fields],
            text,
            context=self._understanding(),
            expected=asked,
            collected=form.collected(),
        )
        self._address_parts(fields, text, found)
        if form.spec.alternatives and not any(
            all(n in found or form.has(n) for n in g) for g in form.spec.alternatives
        ):
            found |= self._alternative_answers(text)
        for field in fields:
            if field.type == "datetime" and field.name not in found:
                self._half_datetime(field, text, expected=field.name == asked)
        for name, part in list(self.memory.partial.items()):
            whole = form.combine_partial(form.by_name[name], part, self.now.tzinfo if self.now else None)
            if whole is not None and name not in found:
                found[name] = ex.Extraction(field=name, value=whole, confidence=0.9, span=(0, len(text)))
                self.memory.partial.pop(name)
        return found

    def _alternative_answers(self, text: str) -> dict[str, ex.Extraction]:
        """The fields of another way to complete the form, each read as if it had been asked
        ("my phone ends in 5128" while the name was asked): only a group the words complete."""
        assert self.form is not None
        form, context = self.form, self._understanding()
        for group in form.spec.alternatives:
            found: dict[str, ex.Extraction] = {}
            for name in group:
                if form.has(name):
                    continue
                got = ex.extract(understood(form.by_name[name]), text, context=context, expected=True)
                if got is None:
                    break
                found[name] = got
            else:
                if found:
                    return found
        return {}

    def _address_parts(self, fields: Sequence[FieldSpec], text: str, found: dict[str, ex.Extraction]) -> None:
        """A whole address said at once fills separate street, city, state and ZIP fields."""
        parts = {f.type: f for f in reversed(fields) if f.type in ADDRESS_PARTS}
        if "street" not in parts and "city" not in parts:
            return
        asked = self.memory.asked in {f.name for f in parts.values()}
        whole = ex.extract(ex.FieldSpec(name="address", type="address"), text, context=self._understanding())
        if whole is None or not isinstance(whole.value, ex.Address) or not (asked or whole.value.street):
            return
        for kind, field in parts.items():
            value = getattr(whole.value, kind)
            if value:
                found[field.name] = ex.Extraction(
                    field=field.name, value=value, confidence=whole.confidence, span=whole.span
                )

    def _half_datetime(self, field: FieldSpec, text: str, *, expected: bool) -> None:
        context, part = self._understanding(), self.memory.partial.setdefault(field.name, {})
        for kind in ("date", "time"):
            half = ex.extract(
                ex.FieldSpec(name=field.name, type=kind), text, context=context, expected=expected
            )
            if half is not None:
                part[kind] = half.value.isoformat()  # type: ignore[union-attr]
        if not part:
            self.memory.partial.pop(field.name)

    def _store(self, values: Mapping[str, ex.Extraction]) -> list[str]:
        """Keep the values that pass their field's validation; say why one does not."""
        assert self.form is not None and self.now is not None
        stored = []
        for name, got in values.items():
            field = self.form.by_name[name]
            problem = validate(field, got.value, self.now)
            if problem is not None:
                self._say(self._phrase("invalid", problem=problem))
                continue
            self.form.set(name, got.value)
            stored.append(name)
            if field.confirm and self.memory.confirming is None:
                self.memory.confirming = name
        return stored

    def _correction(self, text: str, values: Mapping[str, ex.Extraction]) -> bool:
        assert self.form is not None
        collected = self.form.collected()
        if not collected or (self.memory.asked in values):
            return False
        fields = [understood(f) for f in self.form.open_fields() if f.name in collected]
        fix = ex.detect_correction(text, fields, collected, context=self._understanding())
        fix = fix or self._moved_datetime(text)  # the question asked got no answer: a day said is a change
        if fix is None:
            return False
        self._store({fix.field: fix.extraction})
        return True

    def _moved_datetime(self, text: str) -> ex.Correction | None:
        """ "No, it was on Wednesday": a new day (or time) for a date and time already known,
        keeping the other half."""
        assert self.form is not None
        context = self._understanding()
        for name, old in self.form.collected().items():
            field = self.form.by_name[name]
            if field.type != "datetime" or not isinstance(old, dt.datetime):
                continue
            day = ex.extract(ex.FieldSpec(name=name, type="date"), text, context=context, expected=False)
            clock = ex.extract(ex.FieldSpec(name=name, type="time"), text, context=context, expected=False)
            if day is None and clock is None:
                continue
            new = old
            if day is not None and isinstance(day.value, dt.date):
                new = new.replace(year=day.value.year, month=day.value.month, day=day.value.day)
            if clock is not None and isinstance(clock.value, dt.time):
                new = new.replace(hour=clock.value.hour, minute=clock.value.minute)
            span = day.span if day is not None else clock.span if clock is not None else (0, 0)
            got = ex.Extraction(field=name, value=new, confidence=0.9, span=span)
            return ex.Correction(field=name, value=new, extraction=got, previous=old)
        return None

    def _next(self, *, acknowledge: bool = False, missed: bool = False) -> None:
        """Ask what is missing, read the form back, or call its tool."""
        form, memory = self.form, self.memory
        if form is None:
            return
        if memory.done:
            if memory.intent:
                self._handoff(memory.intent, memory.intent_words)
            return
        form.prefill()
        if memory.confirming and memory.confirming != "form":
            field = form.by_name[memory.confirming]
            self._say(self._phrase("check_value", value=self._spoken(field)))
            return
        if form.complete():
            self._finish(acknowledge)
            return
        field = form.missing()[0]
        if missed and field.name == memory.asked and not field.required:
            memory.skipped.append(field.name)  # "I don't know": it was optional
            self._say(self._phrase("skipped"))
            self._next()
            return
        if missed and field.name == memory.asked:
            memory.misses += 1
            self._say(self._phrase("missed"))
            self._say(self._options(field))
        elif acknowledge:
            self._say(self._phrase("got_it"))
        memory.asked = field.name
        self._say(self._question(field))

    def _options(self, field: FieldSpec) -> str:
        """The choices, once an answer did not match one (the field's ``options_say``, or the
        agent's ``phrases.options``)."""
        if field.choices_from:
            listed = self.ctx.fields.get(field.choices_from) or []
            choices = [_choice_name(v) for v in listed if isinstance(v, dict | str)]
        elif field.type == "choice":
            choices = list(field.choices) + [c for c in field.options if c not in field.choices]
        else:
            return ""
        if not choices:
            return ""
        return self._render(field.options_say or self.agent.phrases.options, options=_or(choices))

    def _question(self, field: FieldSpec) -> str:
        part = self.memory.partial.get(field.name, {})
        if "date" in part and "time" not in part:
            return self._phrase("ask_time")
        if "time" in part and "date" not in part:
            return self._phrase("ask_day")
        return self._render(field.ask) or self._phrase("ask_field", field=field.name.replace("_", " "))

    def _finish(self, acknowledge: bool) -> None:
        assert self.form is not None
        spec, memory = self.form.spec, self.memory
        memory.asked = None
        if spec.confirm:
            memory.confirming = "form"
            self._say(self._render(spec.confirm))
        elif spec.tool:
            self._call(spec.tool, self.form.arguments(), "form")
        else:
            memory.done = True

    def _read_back(self, text: str) -> None:
        assert self.form is not None
        collected = self.form.collected()
        fields = [understood(f) for f in self.form.open_fields()]
        answer = ex.read_confirmation(text, fields, collected, context=self._understanding())
        moved = self._moved_datetime(text) if answer.kind in ("denied", "unclear") else None
        if moved is not None:
            answer = ex.Confirmation(kind="corrected", corrections=(moved,))
        if answer.kind == "confirmed":
            self.memory.confirming = None
            if self.form.spec.tool:
                self._call(self.form.spec.tool, self.form.arguments(), "form")
            else:
                self.memory.done = True
        elif answer.kind == "corrected":
            self._store({c.field: c.extraction for c in answer.corrections})
            self._say(self._phrase("corrected"))
            self._say(self._render(self.form.spec.confirm))
        elif answer.kind == "denied":
            self.memory.confirming, self.memory.correcting = None, True
            self._say(self._phrase("what_to_correct"))
        else:
            self._say(self._phrase("yes_or_no"))

    def _correcting(self, text: str) -> None:
        """After "no, that's wrong": the next words say what changes ("the date was Tuesday")."""
        assert self.form is not None
        collected = self.form.collected()
        fields = [understood(f) for f in self.form.open_fields()]
        fix = ex.detect_correction(f"actually {text}", fields, collected, context=self._understanding())
        fix = fix or self._moved_datetime(text)
        if fix is None:
            self._say(self._phrase("which_detail"))
            return
        self.memory.correcting = False
        self._store({fix.field: fix.extraction})
        self._next(acknowledge=True)

    def _confirm_field(self, text: str, field: FieldSpec) -> None:
        assert self.form is not None
        collected = {field.name: self.form.collected()[field.name]} if self.form.has(field.name) else {}
        answer = ex.read_confirmation(text, [understood(field)], collected, context=self._understanding())
        self.memory.confirming = None
        if answer.kind == "corrected":
            self._store({c.field: c.extraction for c in answer.corrections})
            self.memory.confirming = None
        elif answer.kind != "confirmed":
            self.form.clear([field.name])
        self._next(acknowledge=answer.kind == "confirmed")

    # -- tools and handoffs ------------------------------------------------------------------
    def _call(self, tool: str, arguments: dict[str, Any], kind: Any, index: int = 0) -> None:
        call_id = f"flow-{uuid7()}"
        self.call = ToolCallRequest(id=call_id, name=tool, arguments=arguments)
        self.memory.awaiting = Awaiting(id=call_id, kind=kind, index=index)

    def _handoff(self, target: str, words: str) -> None:
        self.memory.intent = None
        self._call(self.ctx.handoff_tools[target], {"reason": words}, "handoff")

    def _answer(self, index: int) -> None:
        intent: IntentSpec = self.agent.knowledge[index]
        if intent.tool:
            arguments = {k: self._render(v) for k, v in intent.arguments.items()}
            self._call(intent.tool, arguments, "knowledge", index)
        else:
            self._say(self._render(intent.say))
            self._ask_again(intent)

    def _tool_result(self, awaiting: Awaiting, result: Any) -> None:
        failed = isinstance(result, dict) and "error" in result
        if awaiting.kind == "knowledge":
            intent = self.agent.knowledge[awaiting.index]
            self._say(self._phrase("lookup_failed") if failed else self._render(intent.say, result))
            self._ask_again(intent)
        elif awaiting.kind == "form":
            self._form_result(result, failed)

    def _form_result(self, result: Any, failed: bool) -> None:
        assert self.form is not None
        spec, memory = self.form.spec, self.memory
        if not failed:
            memory.done, memory.confirming = True, None
            self._say(self._render(spec.done, result, intent=memory.intent))
            if memory.intent:
                self._handoff(memory.intent, memory.intent_words)
            return
        memory.attempts += 1
        self._say(self._render(spec.failed, result) or self._phrase("tool_failed"))
        give_up = memory.attempts >= spec.attempts or bool(result.get("escalate"))
        listed = result.get("fields")
        again = (
            list(listed) if isinstance(listed, list) else self.form.mentioned(str(result.get("error", "")))
        )
        if give_up or not again:
            if spec.escalate and not result.get("escalated"):  # the tool handed the call on itself
                self._call(spec.escalate, {"reason": "the form could not be completed"}, "escalation")
            return
        self.form.clear([n for n in again if n in self.form.by_name])
        if spec.failed:  # it asks again itself
            missing = self.form.missing()
            memory.asked = missing[0].name if missing else None
        else:
            self._next()

    def _ask_again(self, intent: IntentSpec) -> None:
        """After an answer, back to the question pending (if the form is not done), unless
        the answer ended the call (``end_call``)."""
        if intent.tool == "end_call":
            return
        if self.form is not None and not self.memory.done and self.memory.asked:
            self._next()

    def _arrive(self) -> None:
        """The agent has just been handed the call: act on why (the caller's words travel as
        the handoff's reason), then ask what the form still needs."""
        self.memory.awaiting, self.memory.confirming, self.memory.correcting = None, None, False
        reason = _handoff_reason(self.request.messages, self.ctx.agent)
        if reason and self._intents(reason, answered=False):
            return
        if self.form is None or self.memory.done:
            self._say(self.agent.fallback)
            return
        self.memory.asked = None
        self._next()

    # -- words -------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if text:
            self.spoken.append(text)

    def _render(self, template: str, result: Any = None, **extra: Any) -> str:
        """A template of the agent's, with the call's context, ``result`` (of the tool just
        called) and ``intent`` (the agent the caller asked for before the gate)."""
        if not template:
            return ""
        render = self.ctx.render
        return render(template, {"result": result, **extra}) if render else template

    def _phrase(self, name: str, **extra: Any) -> str:
        """One of the engine's own words: the agent's ``phrases`` (core gives the defaults)."""
        template: str = getattr(self.agent.phrases, name)
        return self._render(template, **extra)

    def _spoken(self, field: FieldSpec) -> str:
        assert self.form is not None
        value = self.form.collected().get(field.name)
        return (
            spoken(ex.Extraction(field=field.name, value=value, confidence=1, span=(0, 0))) if value else ""
        )


def _choice_name(value: dict[str, Any] | str) -> str:
    """An option a tool stored, as said: a vehicle's year, make and model, or its name."""
    if isinstance(value, str):
        return value
    parts = [str(value[k]) for k in ("year", "make", "model") if value.get(k)]
    return " ".join(parts) or str(value.get("name", ""))


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}" if items else ""


def _last(messages: Sequence[Message]) -> Message | None:
    for message in reversed(messages):
        if message.role != "system":
            return message
    return None


def _result(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return {"text": content}


def _handoff_reason(messages: Sequence[Message], agent: str) -> str:
    """The reason of the latest handoff to ``agent`` (the words that asked for it)."""
    for message in reversed(messages):
        for call in message.tool_calls or []:
            function = call.get("function", {})
            if function.get("name") == f"handoff_to_{agent}":
                return str(_result(function.get("arguments") or "{}").get("reason", ""))
    return ""
