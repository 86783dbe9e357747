#!/usr/bin/env python3
"""Consistency check for breachgate's data files: schemas, agreements and fixtures.

Run from anywhere: `python3 tests/e2e/check_schemas.py` (needs Python 3.11+ for tomllib and
`pip install jsonschema rfc3339-validator`). Paths are resolved relative to the repository
root (two levels above this file). Exits non-zero and lists every problem on failure.

Checks:
- every schemas/**/*.schema.json is a valid JSON Schema 2020-12 document with the agreed $id;
- $defs shared between schemas are identical (the taxonomies must not drift apart);
- contracts/systems.toml and contracts/subprocessors.toml validate against the $defs of
  contract.v1.schema.json, and every contracts/clients/*.toml against contract.v1 itself;
- cross references resolve: file stems, system ids, sub-processor ids and the systems they
  are used in, profile schema paths, unique webhook ids and secrets;
- the fixture reports validate against report.v1 and name known systems/sub-processors, and
  each affects a strict, non-empty subset of the clients;
- the example notice validates against notice.v1 and, with personal_data.protection added
  (required by it-strict since notice v1.1), its client's profile, is consistent with
  the agreements, and fails the it-strict profile at /data/measures without measures.in_place;
- a few known-bad documents are rejected (so the schemas are not accidentally permissive);
- JSON files are formatted with 2-space indent.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import tomllib
from pathlib import Path

try:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:  # pragma: no cover
    sys.exit("missing dependency: pip install jsonschema rfc3339-validator")

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
CONTRACTS = ROOT / "contracts"
FIXTURES = ROOT / "tests" / "fixtures"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://breachgate.dev/schemas/"
CONTRACT_ID = BASE + "contract.v1.schema.json"
REPORT_ID = BASE + "report.v1.schema.json"
NOTICE_ID = BASE + "notice.v1.schema.json"
FORMATS = Draft202012Validator.FORMAT_CHECKER
# EEA = EU member states plus Iceland, Liechtenstein and Norway.
EEA = set("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split())
SPECIAL = {"racial_ethnic_origin", "political_opinions", "religious_beliefs", "trade_union_membership",
           "genetic", "biometric", "health", "sex_life_orientation", "criminal_convictions"}

problems: list[str] = []
passed = 0


def check(ok: bool, message: str) -> bool:
    global passed
    if ok:
        passed += 1
    else:
        problems.append(message)
    return ok


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def load_json(path: Path):
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    check(text == json.dumps(data, indent=2, ensure_ascii=False) + "\n",
          f"{rel(path)}: not formatted with 2-space indent (json.dumps(indent=2) + newline)")
    return data


def load_toml(path: Path):
    with path.open("rb") as f:
        data = tomllib.load(f)
    try:  # what the Rust side validates is the TOML as JSON; dates would not survive that
        return json.loads(json.dumps(data))
    except TypeError as e:
        check(False, f"{rel(path)}: not representable as JSON: {e}")
        return data


def errors(validator: Draft202012Validator, instance) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in sorted(validator.iter_errors(instance), key=str)]


def expect_valid(validator, instance, what: str) -> bool:
    errs = errors(validator, instance)
    return check(not errs, f"{what}: " + "; ".join(errs[:5]))


def expect_invalid(validator, instance, what: str) -> bool:
    return check(not validator.is_valid(instance), f"{what}: expected to be rejected but validated")


def expect_one_missing(validator, instance, parent: str, prop: str, what: str) -> bool:
    """The instance fails only because `parent` lacks the required `prop`."""
    errs = list(validator.iter_errors(instance))
    return check([(e.json_path, e.validator) for e in errs] == [(f"$.{parent}", "required")]
                 and prop in errs[0].message,
                 f"{what}: expected one 'required' error at /{parent.replace('.', '/')}, got "
                 + "; ".join(f"{e.json_path}: {e.message}" for e in errs))


def timestamp(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------- schemas
schemas: dict[str, dict] = {}
for path in sorted(SCHEMAS.rglob("*.json")):
    name = path.relative_to(SCHEMAS).as_posix()
    schema = load_json(path)
    check(name.endswith(".schema.json"), f"{rel(path)}: schema files end in .schema.json")
    check(schema.get("$schema") == DIALECT, f"{rel(path)}: $schema must be {DIALECT}")
    check(schema.get("$id") == BASE + name, f"{rel(path)}: $id must be {BASE + name}")
    try:
        Draft202012Validator.check_schema(schema)
        passed += 1
    except Exception as e:  # SchemaError
        check(False, f"{rel(path)}: invalid 2020-12 schema: {e}")
    schemas[name] = schema

for required in ["report.v1.schema.json", "notice.v1.schema.json", "contract.v1.schema.json"]:
    check(required in schemas, f"schemas/{required} is missing")
if problems:
    sys.exit("\n".join(["FAILED:"] + problems))

# Shared $defs (taxonomies, common shapes) must be identical wherever they appear.
def_owners: dict[str, tuple[str, object]] = {}
for name, schema in schemas.items():
    for key, value in schema.get("$defs", {}).items():
        if key in def_owners:
            owner, other = def_owners[key]
            check(value == other, f"$defs/{key} differs between {owner} and {name}")
        else:
            def_owners[key] = (name, value)
notice_defs = schemas["notice.v1.schema.json"]["$defs"]
check(set(notice_defs["special_data_category"]["enum"]) == SPECIAL
      and SPECIAL <= set(notice_defs["data_category"]["enum"]),
      "special_data_category must be exactly the Art. 9/10 subset of data_category")

registry = Registry().with_resources(
    (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in schemas.values())


def validator_for(uri: str) -> Draft202012Validator:
    return Draft202012Validator({"$schema": DIALECT, "$ref": uri}, registry=registry, format_checker=FORMATS)


report_v = validator_for(REPORT_ID)
notice_v = validator_for(NOTICE_ID)
contract_v = validator_for(CONTRACT_ID)
systems_file_v = validator_for(CONTRACT_ID + "#/$defs/systems_file")
subprocessors_file_v = validator_for(CONTRACT_ID + "#/$defs/subprocessors_file")

# ------------------------------------------------------------------------------- registers
systems_doc = load_toml(CONTRACTS / "systems.toml")
expect_valid(systems_file_v, systems_doc, "contracts/systems.toml")
systems = {s["id"]: s for s in systems_doc.get("system", [])}
check(len(systems) == len(systems_doc.get("system", [])), "contracts/systems.toml: duplicate system id")

subs_doc = load_toml(CONTRACTS / "subprocessors.toml")
expect_valid(subprocessors_file_v, subs_doc, "contracts/subprocessors.toml")
subprocessors = {s["id"]: s for s in subs_doc.get("subprocessor", [])}
check(len(subprocessors) == len(subs_doc.get("subprocessor", [])),
      "contracts/subprocessors.toml: duplicate sub-processor id")
for sp in subprocessors.values():
    for system in sp.get("systems", []):
        check(system in systems, f"contracts/subprocessors.toml: {sp['id']}: unknown system {system!r}")
    in_eea = sp.get("country") in EEA
    check(in_eea == (sp.get("transfer_safeguard") == "none_required_eea"),
          f"contracts/subprocessors.toml: {sp['id']}: transfer_safeguard none_required_eea "
          f"is for (and required by) EEA countries only")

# ------------------------------------------------------------------------------- clients
clients: dict[str, dict] = {}
secrets: dict[str, str] = {}
for path in sorted((CONTRACTS / "clients").glob("*.toml")):
    where = rel(path)
    client = load_toml(path)
    if not expect_valid(contract_v, client, where):
        continue
    check(client["id"] == path.stem, f"{where}: id {client['id']!r} must equal the file stem")
    check(client["id"] not in clients, f"{where}: duplicate client id")
    clients[client["id"]] = client
    seen_systems = set()
    for cs in client["systems"]:
        sid = cs["id"]
        check(sid in systems, f"{where}: unknown system {sid!r}")
        check(sid not in seen_systems, f"{where}: system {sid!r} listed twice")
        seen_systems.add(sid)
        for spid in cs["subprocessors"]:
            if check(spid in subprocessors, f"{where}: systems {sid}: unknown sub-processor {spid!r}"):
                check(sid in subprocessors[spid]["systems"],
                      f"{where}: systems {sid}: sub-processor {spid!r} is not used in {sid!r}")
        check(cs["children"] or "children" not in cs["data_subjects"],
              f"{where}: systems {sid}: data_subjects include children but children = false")
    profile = client["agreement"].get("notice_schema")
    if profile is not None:
        check(profile in schemas, f"{where}: notice_schema {profile!r} not found under schemas/")
    hooks = client["delivery"].get("webhooks", [])
    check(len({h["id"] for h in hooks}) == len(hooks), f"{where}: duplicate webhook id")
    for hook in hooks:
        other = secrets.setdefault(hook["secret"], f"{client['id']}/{hook['id']}")
        check(other == f"{client['id']}/{hook['id']}",
              f"{where}: webhook {hook['id']} reuses the secret of {other}")
check(len(clients) > 0, "contracts/clients: no client agreements")


def affected_clients(report: dict) -> set[str]:
    """The clients a report concerns, as the fixtures assume the enrichment stage computes it:
    explicit client ids, plus clients using a named system; when a sub-processor is named, only
    through systems for which the client authorised it (all its systems if none are named)."""
    affected = report["affected"]
    named_systems = set(affected.get("systems", []))
    sp = affected.get("subprocessor")
    result = set(affected.get("clients", []))
    for cid, client in clients.items():
        for cs in client["systems"]:
            if named_systems and cs["id"] not in named_systems:
                continue
            if sp is not None and sp not in cs["subprocessors"]:
                continue
            if named_systems or sp is not None:
                result.add(cid)
    return result


# ------------------------------------------------------------------------------- reports
reports = {}
for path in sorted(FIXTURES.glob("report-*.json")):
    where = rel(path)
    report = load_json(path)
    reports[path.stem] = report
    if not expect_valid(report_v, report, where):
        continue
    affected = report["affected"]
    for sid in affected.get("systems", []):
        check(sid in systems, f"{where}: affected.systems: unknown system {sid!r}")
    sp = affected.get("subprocessor")
    if sp is not None and check(sp in subprocessors, f"{where}: affected.subprocessor: unknown {sp!r}"):
        for sid in affected.get("systems", []):
            check(sid in subprocessors[sp]["systems"], f"{where}: {sp!r} is not used in system {sid!r}")
    for cid in affected.get("clients", []):
        check(cid in clients, f"{where}: affected.clients: unknown client {cid!r}")
    occurred = report["occurred"]
    if occurred.get("to") is not None:
        check(timestamp(occurred["from"]) <= timestamp(occurred["to"]), f"{where}: occurred.to before from")
    check(timestamp(occurred["from"]) <= timestamp(report["became_aware_at"]),
          f"{where}: became aware before the breach started")
    for part, key in [("data_subjects", "count"), ("personal_data", "records")]:
        rng = report[part].get(key)
        if rng:
            check(rng["min"] <= rng["max"], f"{where}: {part}.{key}: min > max")
    hit = affected_clients(report)
    print(f"{where}: affects {len(hit)}/{len(clients)} clients: {', '.join(sorted(hit))}")
    check(0 < len(hit) < len(clients), f"{where}: must affect a strict, non-empty subset of the clients")

if check("report-lms" in reports and "report-subprocessor" in reports,
         "tests/fixtures: report-lms.json and report-subprocessor.json are required"):
    lms_report, sp_report = reports["report-lms"], reports["report-subprocessor"]
    check(lms_report["affected"].get("systems") == ["lms"], "report-lms: affected.systems must be [\"lms\"]")
    check("in_place" not in lms_report["measures"], "report-lms: must not have measures.in_place")
    held = {cid for cid in affected_clients(lms_report) if clients[cid]["agreement"].get("notice_schema")}
    check(bool(held), "report-lms: must affect a client with a profile (whose notice is then held)")
    lms_users = {cid for cid, c in clients.items() if any(s["id"] == "lms" for s in c["systems"])}
    sp_hit = affected_clients(sp_report)
    check(sp_report["affected"].get("systems") == ["lms"], "report-subprocessor: affected.systems must be [\"lms\"]")
    check(sp_hit < lms_users, "report-subprocessor: must affect a strict subset of the lms clients")

# ------------------------------------------------------------------------------- notice
notice_path = FIXTURES / "notice-example.json"
notice = load_json(notice_path)
where = rel(notice_path)
if expect_valid(notice_v, notice, where):
    d = notice["data"]
    client = clients.get(d["controller"]["client_id"])
    if check(client is not None, f"{where}: unknown controller.client_id"):
        agreement = client["agreement"]
        check(d["controller"]["name"] == client["name"], f"{where}: controller.name differs from the agreement")
        check(d["controller"]["agreement_id"] == agreement["id"], f"{where}: controller.agreement_id differs")
        check(d["controller"].get("reference") == agreement.get("reference"), f"{where}: controller.reference differs")
        deadline = timestamp(d["became_aware_at"]) + dt.timedelta(hours=agreement["notify_within_hours"])
        check(timestamp(d["deadline"]["processor_notify_by"]) == deadline,
              f"{where}: processor_notify_by must be became_aware_at + notify_within_hours ({deadline})")
        client_systems = {s["id"]: s for s in client["systems"]}
        for s in d["systems"]:
            check(s["id"] in client_systems, f"{where}: client does not use system {s['id']!r}")
            check(systems.get(s["id"], {}).get("name") == s["name"], f"{where}: systems: name of {s['id']!r} differs")
        used = [client_systems[s["id"]] for s in d["systems"] if s["id"] in client_systems]
        check(set(d["data_subjects"]["categories"]) <= {c for s in used for c in s["data_subjects"]},
              f"{where}: data_subjects.categories not in the client's systems")
        check(set(d["personal_data"]["categories"]) <= {c for s in used for c in s["data_categories"]},
              f"{where}: personal_data.categories not in the client's systems")
        if d["subprocessor"] is not None:
            sp = d["subprocessor"]
            register = {k: v for k, v in subprocessors.get(sp["id"], {}).items() if k != "systems"}
            check(sp == register, f"{where}: subprocessor differs from the register")
            check(all(sp["id"] in s["subprocessors"] for s in used),
                  f"{where}: client did not authorise {sp['id']!r} for the listed systems")
        profile = agreement.get("notice_schema")
        if check(profile is not None, f"{where}: the example notice should be for a client with a profile"):
            profile_v = validator_for(BASE + profile)
            # The example is a notice of v1.0, before the profile required
            # personal_data.protection (v1.1): it fails there and only there.
            expect_one_missing(profile_v, notice, "data.personal_data", "protection", f"{where} against {profile}")
            notice = copy.deepcopy(notice)
            notice["data"]["personal_data"]["protection"] = {"state": "none"}
            expect_valid(notice_v, notice, f"{where} with protection against notice.v1")
            expect_valid(profile_v, notice, f"{where} with protection against {profile}")
            without = copy.deepcopy(notice)
            without["data"]["measures"].pop("in_place", None)
            expect_valid(notice_v, without, f"{where} without in_place against notice.v1")
            expect_one_missing(profile_v, without, "data.measures", "in_place", f"{where} without in_place")
            without = copy.deepcopy(notice)
            without["data"]["controller"].pop("reference", None)
            expect_invalid(profile_v, without, f"{where} without controller.reference against {profile}")
    sev = d["severity"]
    check(abs(sev["dpc"] * sev["ei"] + sev["cb"] - sev["score"]) < 1e-9, f"{where}: severity.score != dpc*ei+cb")
    band = "low" if sev["score"] < 2 else "medium" if sev["score"] < 3 else "high" if sev["score"] < 4 else "very_high"
    check(sev["level"] == band, f"{where}: severity.level should be {band}")
    check(set(d["personal_data"]["special_categories"]) == set(d["personal_data"]["categories"]) & SPECIAL,
          f"{where}: special_categories must be the Art. 9/10 categories among categories")

# ------------------------------------------------------------------------------- known-bad
def mutated(doc, change):
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


if "report-lms" in reports:
    r = reports["report-lms"]
    bad_reports = {
        "nature all false": lambda x: x.update(nature={"confidentiality": False, "integrity": False, "availability": False}),
        "empty affected": lambda x: x.update(affected={}),
        "empty affected.systems": lambda x: x.update(affected={"systems": []}),
        "unknown field": lambda x: x.update(priority="high"),
        "non-UTC timestamp": lambda x: x.update(became_aware_at="2026-11-22T08:30:00+01:00"),
        "bad data category": lambda x: x["personal_data"].update(categories=["names"]),
        "empty subject categories": lambda x: x["data_subjects"].update(categories=[]),
        "dpc_adjustment 2": lambda x: x.update(severity_inputs={"dpc_adjustment": 2}),
    }
    for what, change in bad_reports.items():
        expect_invalid(report_v, mutated(r, change), f"report-lms with {what}")
bad_notices = {
    "ei 0.6": lambda x: x["data"]["severity"].update(ei=0.6),
    "bad notice_id": lambda x: x["data"].update(notice_id="ntc_123"),
    "special category not Art. 9/10": lambda x: x["data"]["personal_data"].update(special_categories=["financial"]),
    "missing occurred.to": lambda x: x["data"]["occurred"].pop("to"),
    "unknown type": lambda x: x.update(type="breach.notice.reminder"),
}
for what, change in bad_notices.items():
    expect_invalid(notice_v, mutated(notice, change), f"notice-example with {what}")
if clients:
    c = clients[sorted(clients)[0]]
    hook = lambda x: x["delivery"]["webhooks"][0]  # noqa: E731
    bad_clients = {
        "http webhook": lambda x: hook(x).update(url="http://hooks.example/x"),
        "signatures [v1a]": lambda x: hook(x).update(signatures=["v1a"]),
        "literal secret": lambda x: hook(x).update(secret="whsec_abc"),
        "notify_within_hours 96": lambda x: x["agreement"].update(notify_within_hours=96),
        "profile path with ..": lambda x: x["agreement"].update(notice_schema="../notice.v1.schema.json"),
        "no delivery channel": lambda x: x.update(delivery={}),
    }
    if c["delivery"].get("webhooks"):
        for what, change in bad_clients.items():
            expect_invalid(contract_v, mutated(c, change), f"{c['id']} with {what}")
        local = mutated(c, lambda x: hook(x).update(url="http://127.0.0.1:9000/hook", local_testing=True))
        expect_valid(contract_v, local, f"{c['id']} with an http webhook and local_testing = true")

# ------------------------------------------------------------------------------- result
if problems:
    print(f"FAILED: {len(problems)} problem(s), {passed} check(s) passed", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    sys.exit(1)
print(f"OK: {len(schemas)} schemas, {len(clients)} clients, {len(reports)} reports, 1 notice; {passed} checks passed")
