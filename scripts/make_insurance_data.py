"""Write the insurance plugin's demo policyholders (plugins/insurance/.../data/policyholders.json).

Deterministic (a fixed seed), so the file only changes when this script does. Names, ZIP codes
and vehicles are common ones a speech recogniser hears well.

    .venv/bin/python scripts/make_insurance_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "plugins/insurance/src/artagent_insurance/data/policyholders.json"

PEOPLE = [
    ("John Smith", "98052", "Redmond", "WA", "Main Street"),
    ("Maria Garcia", "78701", "Austin", "TX", "Congress Avenue"),
    ("David Johnson", "60614", "Chicago", "IL", "Clark Street"),
    ("Sarah Williams", "30309", "Atlanta", "GA", "Peachtree Street"),
    ("James Brown", "10001", "New York", "NY", "Eighth Avenue"),
    ("Linda Martinez", "85004", "Phoenix", "AZ", "Van Buren Street"),
    ("Robert Miller", "80202", "Denver", "CO", "Larimer Street"),
    ("Emily Davis", "02108", "Boston", "MA", "Beacon Street"),
    ("Michael Wilson", "94103", "San Francisco", "CA", "Mission Street"),
    ("Jennifer Anderson", "97201", "Portland", "OR", "Broadway"),
    ("William Taylor", "33101", "Miami", "FL", "Flagler Street"),
    ("Jessica Thomas", "55401", "Minneapolis", "MN", "Hennepin Avenue"),
    ("Richard Moore", "37203", "Nashville", "TN", "Division Street"),
    ("Karen Jackson", "28202", "Charlotte", "NC", "Tryon Street"),
    ("Thomas White", "64105", "Kansas City", "MO", "Grand Boulevard"),
    ("Nancy Harris", "84101", "Salt Lake City", "UT", "State Street"),
    ("Daniel Martin", "19103", "Philadelphia", "PA", "Walnut Street"),
    ("Lisa Thompson", "73102", "Oklahoma City", "OK", "Robinson Avenue"),
    ("Paul Lee", "96813", "Honolulu", "HI", "King Street"),
    ("Susan Clark", "89101", "Las Vegas", "NV", "Fremont Street"),
    ("Mark Lewis", "43215", "Columbus", "OH", "High Street"),
    ("Betty Walker", "46204", "Indianapolis", "IN", "Meridian Street"),
    ("Steven Hall", "53202", "Milwaukee", "WI", "Water Street"),
    ("Angela Young", "70112", "New Orleans", "LA", "Canal Street"),
    ("Kevin King", "98101", "Seattle", "WA", "Pine Street"),
    ("Laura Scott", "20001", "Washington", "DC", "Seventh Street"),
    ("Brian Green", "48226", "Detroit", "MI", "Woodward Avenue"),
    ("Michelle Adams", "92101", "San Diego", "CA", "Market Street"),
]
VEHICLES = [
    ("Honda", "Civic"), ("Toyota", "Camry"), ("Ford", "F-150"), ("Tesla", "Model 3"),
    ("Chevrolet", "Malibu"), ("Subaru", "Outback"), ("Nissan", "Altima"), ("Jeep", "Wrangler"),
    ("Hyundai", "Elantra"), ("Kia", "Sorento"), ("Mazda", "CX-5"), ("Volkswagen", "Jetta"),
    ("BMW", "X3"), ("Toyota", "RAV4"), ("Honda", "Accord"), ("Ford", "Escape"),
]  # fmt: skip


def policyholder(rng: random.Random, index: int, person: tuple[str, str, str, str, str]) -> dict[str, object]:
    name, zip_code, city, state, street = person
    vehicles = [
        {
            "year": rng.randint(2014, 2025),
            "make": make,
            "model": model,
            "vin": f"1HG{rng.randint(10**13, 10**14 - 1)}",
        }
        for make, model in rng.sample(VEHICLES, 1 if index % 3 else 2)
    ]
    rental = (
        {"per_day": rng.choice([30, 40, 50]), "max": rng.choice([900, 1200, 1500])} if index % 4 else None
    )
    return {
        "policy_number": f"PA{rng.randint(10**7, 10**8 - 1)}",
        "name": name,
        "phone": f"{rng.choice([206, 312, 415, 512, 617, 720])}555{rng.randint(1000, 9999)}",
        "address": {
            "street": f"{rng.randint(10, 9999)} {street}",
            "city": city,
            "state": state,
            "zip": zip_code,
        },
        "vehicles": vehicles,
        "coverage": {
            "collision_deductible": rng.choice([250, 500, 1000]),
            "comprehensive_deductible": rng.choice([100, 250, 500]),
            "liability": rng.choice(["50/100/50", "100/300/100", "250/500/100"]),
            "glass": {"covered": index % 5 != 0, "deductible": rng.choice([0, 100])},
            "roadside_assistance": {"covered": index % 3 != 1, "towing_miles": rng.choice([15, 50, 100])},
            "rental_reimbursement": rental,
            "uninsured_motorist": index % 2 == 0,
        },
        "status": "active",
    }


def main() -> None:
    rng = random.Random(20261201)
    holders = [policyholder(rng, i, person) for i, person in enumerate(PEOPLE)]
    OUT.write_text(json.dumps({"policyholders": holders}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(holders)} policyholders to {OUT}")


if __name__ == "__main__":
    main()
