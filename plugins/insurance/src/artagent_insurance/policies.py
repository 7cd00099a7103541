"""The demo policyholders (``data/policyholders.json``) and how a caller is matched to one.

A caller is verified by full name plus ZIP code, or by the last four digits of the policy
number or of the phone number on file. Names come from speech recognition, so they are
matched loosely (``Jon Smith`` is John Smith); the ZIP code and the digits must be exact.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from rapidfuzz import fuzz

__all__ = ["PolicyBook", "policy_book"]

NAME_SCORE = 80.0
"""The least rapidfuzz token-sort ratio at which a heard name is the policyholder's (the ZIP
code must match exactly, so one or two names compete at most)."""


def _digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")


class PolicyBook:
    def __init__(self, holders: list[dict[str, Any]]) -> None:
        self.holders = holders
        self._by_number = {h["policy_number"]: h for h in holders}

    def by_number(self, policy_number: str) -> dict[str, Any] | None:
        return self._by_number.get(policy_number)

    def by_name_and_zip(self, full_name: str, zip_code: str) -> dict[str, Any] | None:
        wanted = _digits(zip_code)
        best, best_score = None, 0.0
        for holder in self.holders:
            if holder["address"]["zip"] != wanted:
                continue
            score = fuzz.token_sort_ratio(full_name.lower(), holder["name"].lower())
            if score >= NAME_SCORE and score > best_score:
                best, best_score = holder, score
        return best

    def by_last_four(self, digits: str) -> list[dict[str, Any]]:
        """Every policyholder whose policy number or phone number ends in these four digits."""
        last = _digits(digits)
        if len(last) != 4:
            return []
        return [h for h in self.holders if h["policy_number"].endswith(last) or h["phone"].endswith(last)]


@cache
def policy_book() -> PolicyBook:
    """The shipped dataset, read once per process."""
    text = resources.files("artagent_insurance").joinpath("data/policyholders.json").read_text("utf-8")
    return PolicyBook(json.loads(text)["policyholders"])


def vehicle_name(vehicle: dict[str, Any]) -> str:
    parts = [str(vehicle.get("year") or ""), vehicle.get("make") or "", vehicle.get("model") or ""]
    return " ".join(p for p in parts if p)
