"""The OpenAPI 3.1 document for zuulish's REST API, served at /api/openapi.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TIME = {"type": ["number", "null"], "description": "seconds since the epoch"}
OPT_STR = {"type": ["string", "null"]}
OPT_INT = {"type": ["integer", "null"], "description": "null for a ref item (post, periodic)"}
#: What an item is about, when it is a ref (a ref update, a periodic branch tip).
ABOUT = {"label": {**STR, "description": "'3,1' for a change, 'refs/heads/main@<sha>' "
                                         "for a ref"},
         "display": {**STR, "description": "how people know the change: 'org/repo#12' "
                                           "for a GitHub pull request (GitHub numbers them "
                                           "per repository; 'change' is the connection's "
                                           "number), else as 'label'"},
         "ref": {**OPT_STR, "description": "a ref item's ref"},
         "oldrev": OPT_STR, "newrev": {**OPT_STR, "description": "a ref item's commit"}}


def _obj(required: Sequence[str] = (), **props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


JOB = _obj(
    ["name", "state", "result", "voting"],
    name=STR,
    uuid={**OPT_STR, "description": "the build's id; null until the job starts"},
    state={"type": "string", "description": (
        "waiting (not started: merge or dependencies pending), queued-for-nodes, "
        "queued (nodes assigned), running, paused (zuul.pause: run phase done, waiting "
        "for the jobs that depend on it), completed, canceled")},
    result={**OPT_STR, "description": "SUCCESS, FAILURE, ERROR, NODE_FAILURE, TIMED_OUT, "
                                      "SKIPPED, CANCELED, POST_FAILURE, RETRY_LIMIT, DISK_FULL"},
    voting=BOOL, started_at=TIME, finished_at=TIME,
    url={**OPT_STR, "description": "the build page"},
    log_url={**OPT_STR, "description": "the build's job-output.txt"},
)
CHANGE = _obj(["number", "patchset", "project", "branch", "subject", "url", "label",
               "display"],
              number=OPT_INT, patchset=OPT_INT, project=STR, branch=STR, subject=STR,
              url={**OPT_STR, "description": "the change's page: the pull request on "
                                             "GitHub, the built-in forge's page"},
              **ABOUT)
ITEM = _obj(
    ["id", "change", "live", "active", "failing", "jobs"],
    id=INT, change=_ref("Change"), live=BOOL, enqueued_at=TIME,
    active={**BOOL, "description": "the item has a current build set"},
    failing={**BOOL, "description": "the item can no longer succeed"},
    merge_state={**OPT_STR, "description": "pending, merged, conflict, error, config-error, "
                                           "no-jobs; null when inactive"},
    message={**OPT_STR, "description": "why the item failed to merge or was rejected"},
    jobs=_array(_ref("Job")),
)
QUEUE = _obj(["name", "window", "items"], name=STR,
             window={"type": ["integer", "null"],
                     "description": "active window; null in independent pipelines"},
             items=_array(_ref("Item")))
PIPELINE = _obj(["name", "manager", "queues"], name=STR,
                manager={"type": "string", "enum": ["independent", "dependent", "serial",
                                                    "supercedent"]},
                description=STR, queues=_array(_ref("Queue")))
STATUS = _obj(["tenant", "pipelines"], tenant=STR, pipelines=_array(_ref("Pipeline")))
BUILD = {"allOf": [_ref("Job"), _obj(
    ["tenant", "pipeline", "project", "change", "patchset"],
    tenant=STR, pipeline=STR, project=STR, branch=STR, change=OPT_INT, patchset=OPT_INT,
    subject=STR, message=OPT_STR, attempt=INT, buildset=STR, current=BOOL, item_id=INT,
    created_at=TIME, change_url=OPT_STR, **ABOUT,
    artifacts={**_array(_obj(["name", "url", "metadata"], name=STR, url=STR,
                             metadata={"type": "object"})),
               "description": "what the build returned in zuul.artifacts (zuul_return); "
                              "relative URLs resolved against its returned_log_url, "
                              "else its log directory"},
    returned_log_url={**OPT_STR, "description": "where the job uploaded its logs: the "
                                                "http(s) URL it returned in zuul.log_url "
                                                "(zuul_return); null when none"},
    warnings={**_array(STR), "description": "what the build returned in zuul.warnings "
                                            "(zuul_return); reported on the change"},
    file_comments={"type": "object", "additionalProperties": _array(_ref("FileComment")),
                   "description": "what the build returned in zuul.file_comments "
                                  "(zuul_return), by file path, on files of its change; "
                                  "reported on the change"},
    repos={"type": "object",
           "additionalProperties": _obj(["branch", "commit"], branch=OPT_STR, commit=OPT_STR),
           "description": "by project: the branch and the commit the build tested (its "
                          "speculative state: the branch with the changes ahead and its "
                          "own merged in); empty for a build made before it was recorded"})]}
FILE_COMMENT = _obj(
    ["line", "message"], line=INT, message=STR,
    level={"type": "string", "enum": ["info", "warning", "error"]},
    range=_obj(["start_line", "start_character", "end_line", "end_character"],
               start_line=INT, start_character=INT, end_line=INT, end_character=INT))
HISTORY_BUILD = {"allOf": [_ref("Job"), _obj(
    ["pipeline", "project", "change", "patchset"], pipeline=STR, project=STR, branch=STR,
    change=OPT_INT, patchset=OPT_INT, attempt=INT, change_url=OPT_STR, **ABOUT)]}
LISTED_CHANGE = _obj(
    ["number", "project", "status", "subject", "url"],
    connection=STR, number=INT, project=STR, branch=STR, patchset=INT, status=STR,
    subject=STR, owner=OPT_STR, approvals={"type": "object", "additionalProperties": INT},
    updated_at=TIME,
    last_result={"oneOf": [{"type": "null"}, _obj(["pipeline", "result"], pipeline=STR,
                                                  result=OPT_STR)]},
    url=STR)
TENANT = _obj(["name", "pipelines"], name=STR, pipelines={**INT, "description": "how many"},
              config_errors={**INT, "description": "how many configuration errors (see "
                                                   "/api/tenant/{tenant}/config-errors)"})
CONFIG_ERROR = _obj(
    ["error", "message", "file", "line", "source", "applied", "severity"],
    error={**STR, "description": "FILE:LINE: MESSAGE, as reported on changes and in the log"},
    message=STR,
    file={**OPT_STR, "description": "'project/path' (or 'project@branch/path' for another "
                                    "branch than the default) of in-repo configuration; the "
                                    "tenant file's path for errors in it"},
    line=OPT_INT,
    source={"type": "string", "enum": ["layout", "refused", "tenant-file"], "description": (
        "layout: an error of the running layout (the object it is in was not loaded); "
        "refused: an error of configuration that was read (a push to a branch, a "
        "reconfiguration) but not applied because of it: the tenant keeps running on its "
        "last good layout until a load without new errors; tenant-file: the tenant file "
        "could not be loaded at the last reconfiguration, and every tenant runs as before")},
    applied={**BOOL, "description": "false when the configuration with this error is not "
                                    "the one running"},
    severity={"type": "string", "enum": ["error", "warning"], "description": (
        "error: the object it is in was not loaded (or the load was refused); warning: a "
        "setting zuulish reads and ignores (see the README's Zuul configuration "
        "compatibility table); warnings come after the errors")})
ERROR = _obj(["error"], error=STR)


def _get(summary: str, schema: dict[str, Any], params: Sequence[str] = (),
         not_found: bool = False, query: Sequence[tuple[str, dict[str, Any]]] = ()
         ) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [{"name": p, "in": "path", "required": True, "schema": STR}
                       for p in params] + [{"name": name, "in": "query", "required": False,
                                            "schema": schema_}
                                           for name, schema_ in query],
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": schema}}}},
    }
    if not_found:
        op["responses"]["404"] = {"description": "Not found", "content": {
            "application/json": {"schema": _ref("Error")}}}
    return {"get": op}


def _console_stream() -> dict[str, Any]:
    """The live console: a websocket, which OpenAPI can only describe as an upgrade."""
    op = _get("The build's job-output.txt as it grows, over a websocket (text messages of "
              "whole lines; closed with code 1000 and the result once the build is over)",
              STR, ["uuid"], True,
              [("offset", {**INT, "description": "start at this byte of the log"})])["get"]
    op["responses"] = {
        "101": {"description": "Switching Protocols: the websocket"},
        "400": {"description": "Bad offset",
                "content": {"application/json": {"schema": _ref("Error")}}},
        "404": op["responses"]["404"]}
    return {"get": op}


ACCEPTED = _obj(["event", "url"], event=INT, url=STR)
EVENT = _obj(["id", "type", "processed", "outcome"], id=INT, type=STR, connection=STR,
             processed=BOOL, outcome=OPT_STR)
CHANGE_REF = {"type": "string", "pattern": r"^\d+(,\d+)?$",
              "description": "NUMBER or NUMBER,PATCHSET"}


def _post(summary: str, body: dict[str, Any], params: Sequence[str]) -> dict[str, Any]:
    """A management call: the request is stored as an event and answered with 202."""
    error = {"content": {"application/json": {"schema": _ref("Error")}}}
    return {"post": {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": [{"name": p, "in": "path", "required": True, "schema": STR}
                       for p in params],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": body}}},
        "responses": {
            "202": {"description": "Recorded; the scheduler's outcome is at the event's URL",
                    "content": {"application/json": {"schema": _ref("Accepted")}}},
            "400": {"description": "Malformed request", **error},
            "401": {"description": "Missing or wrong token", **error},
            "403": {"description": "The management API is off", **error},
            "404": {"description": "No such tenant", **error},
        }}}


HELD_NODE = _obj(["id", "label", "provider", "hostname", "hold_until", "login"],
                 id=INT, label=STR, provider=STR, hostname=STR,
                 hold_until={**TIME, "description": "when the node is released (seconds "
                                                   "since the epoch); null: when the "
                                                   "request is deleted"},
                 login={**STR, "description": "how to log in: 'ssh USER@HOST -p PORT', or "
                                              "why there is nothing to log in to (a "
                                              "local node)"})
AUTOHOLD = _obj(
    ["id", "tenant", "project", "job", "ref_filter", "reason", "count", "current_count",
     "node_hold_expiration", "created_at", "held_builds", "nodes"],
    id=INT, tenant=STR, project=STR, job=STR,
    ref_filter={**STR, "description": "regular expression matched at the start of the "
                                      "build's ref (zuul.ref)"},
    reason=STR, count={**INT, "description": "how many failed builds to hold"},
    current_count={**INT, "description": "how many have been held"},
    node_hold_expiration={"type": ["integer", "null"],
                          "description": "seconds a build's nodes are held; null: until "
                                         "the request is deleted"},
    created_at=TIME, account=OPT_STR,
    held_builds=_array(_obj(["build", "nodes", "held_at"], build=STR, nodes=_array(INT),
                            held_at=TIME)),
    nodes=_array(_ref("HeldNode")))
AUTOHOLD_BODY = _obj(
    ["job", "reason"], job=STR, reason=STR,
    change={**INT, "minimum": 1, "description": "hold only builds of this change (every "
                                               "patch set); not with ref"},
    ref={**STR, "description": "hold only builds whose ref matches this regular expression "
                               "(default: .*); not with change"},
    count={**INT, "minimum": 1, "default": 1},
    node_hold_expiration={**INT, "minimum": 0,
                          "description": "seconds to hold each build's nodes (0 or absent: "
                                         "until the request is deleted)"})


def _admin_op(method: str, summary: str, params: Sequence[str], schema: dict[str, Any],
              status: str = "200", body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An autohold call: answered at once, behind the management API's token."""
    error = {"content": {"application/json": {"schema": _ref("Error")}}}
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": [{"name": p, "in": "path", "required": True,
                        "schema": INT if p == "id" else STR} for p in params],
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "400": {"description": "Malformed request, or an unknown project or job",
                    **error},
            "401": {"description": "Missing or wrong token", **error},
            "403": {"description": "The management API is off", **error},
            "404": {"description": "No such tenant or autohold request", **error},
        }}
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    return {method: op}


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document; ``version`` is zuulish's."""
    limit = ("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50})
    return {
        "openapi": "3.1.0",
        "info": {"title": "zuulish", "version": version,
                 "description": "The REST API of the zuulish project gating system."},
        "paths": {
            "/api/tenants": _get("Tenants and how many pipelines each has",
                                 _array(_ref("Tenant"))),
            "/api/tenant/{tenant}/status": _get(
                "Pipelines, queues, items and jobs of a tenant", _ref("Status"),
                ["tenant"], True),
            "/api/tenant/{tenant}/config-errors": _get(
                "Configuration errors of a tenant: of its running layout, of configuration "
                "refused because of them (the last good layout keeps running), and of the "
                "tenant file; then the running layout's warnings (settings read and ignored); "
                "empty when there are none", _array(_ref("ConfigError")),
                ["tenant"], True),
            "/api/tenant/{tenant}/builds": _get(
                "Finished builds of a tenant, newest first", _array(_ref("HistoryBuild")),
                ["tenant"], True, [limit]),
            "/api/build/{uuid}": _get("One build", _ref("Build"), ["uuid"], True),
            "/api/build/{uuid}/console-stream": _console_stream(),
            "/api/tenant/{tenant}/project/{project}/enqueue": _post(
                "Enqueue a change, or a ref (post, periodic pipelines), into a pipeline",
                _obj(["pipeline"], pipeline=STR, change=CHANGE_REF,
                     ref={**STR, "description": "instead of a change: a ref such as "
                                                "refs/heads/main"},
                     newrev={**STR, "description": "the ref's commit to test (default: the "
                                                   "branch tip)"}),
                ["tenant", "project"]),
            "/api/tenant/{tenant}/project/{project}/dequeue": _post(
                "Remove a change from a pipeline",
                _obj(["pipeline", "change"], pipeline=STR, change=CHANGE_REF),
                ["tenant", "project"]),
            "/api/tenant/{tenant}/promote": _post(
                "Move changes to the head of their queues, in order",
                _obj(["pipeline", "changes"], pipeline=STR, changes=_array(CHANGE_REF)),
                ["tenant"]),
            "/api/tenant/{tenant}/project/{project}/autohold": _admin_op(
                "post", "Hold the nodes of the next failed builds of a project's job",
                ["tenant", "project"], _ref("Autohold"), "201", AUTOHOLD_BODY),
            "/api/tenant/{tenant}/autohold": _admin_op(
                "get", "The tenant's autohold requests with their held nodes", ["tenant"],
                _array(_ref("Autohold"))),
            "/api/tenant/{tenant}/autohold/{id}": {
                **_admin_op("get", "One autohold request", ["tenant", "id"],
                            _ref("Autohold")),
                **_admin_op("delete", "Delete an autohold request; its held nodes are "
                            "released (deleted by the launcher)", ["tenant", "id"],
                            _obj(["id", "released_nodes"], id=INT,
                                 released_nodes=_array(INT)))},
            "/api/event/{id}": _get("A stored event and the scheduler's outcome",
                                    _ref("Event"), ["id"], True),
            "/api/changes": _get("Changes of the built-in forge, newest first",
                                 _array(_ref("ListedChange"))),
            "/health": _get("Liveness probe", _obj(["status"], status={"const": "ok"})),
        },
        "components": {"schemas": {
            "Tenant": TENANT, "Status": STATUS, "Pipeline": PIPELINE, "Queue": QUEUE,
            "Item": ITEM, "Change": CHANGE, "Job": JOB, "Build": BUILD,
            "FileComment": FILE_COMMENT,
            "HistoryBuild": HISTORY_BUILD, "ListedChange": LISTED_CHANGE, "Error": ERROR,
            "Accepted": ACCEPTED, "Event": EVENT, "ConfigError": CONFIG_ERROR,
            "Autohold": AUTOHOLD, "HeldNode": HELD_NODE,
        }, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "a token of an authenticator whose claims match the tenant's "
                           "admin-rules, or web.admin_token (docs/authentication.md)"}}},
    }
