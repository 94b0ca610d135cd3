"""EventBridge rules that deliver to SNS topics, for the sandbox (bbws_infra.targets.moto_monitoring
applies this). moto 5.2 raises NotImplementedError for a rule's SNS target, so PutEvents of an
event such a rule matches answered HTTP 500.

An event a rule matches now reaches each SNS target as AWS delivers it, published as
events.amazonaws.com for the rule (moto_monitoring_sns.publish_as_service: the topic's access
policy and its key's policy decide). The message is what the target's input settings make of
the event:

- no input settings: the event itself as JSON (version, id, detail-type, source, account, time
  in ISO 8601, region, resources, detail);
- Input: that text; InputPath: the JSON at that path;
- InputTransformer: each <name> in InputTemplate replaced by the value at its InputPathsMap
  path. In a JSON template (one that starts with { or [) a placeholder outside quotes gets the
  value as JSON (a string quoted, a missing path null) and one inside quotes the value's text;
  any other template is text, values inserted as they are (a missing path: nothing). So a
  template written as a JSON string arrives with its quotes, as on AWS.

Other targets go to moto as before. A DISABLED rule delivers nothing, to any target, as on AWS
(moto sent events through disabled rules).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime

from jsonpath_ng.ext.parser import parse as jsonpath
from moto.events.models import Rule
from moto.events.utils import EventMessageType

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_monitoring_sns
from bbws_infra.targets.moto_monitoring_policy import Publisher

SERVICE = "events.amazonaws.com"
PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_EVENT_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region",
               "resources", "detail")


def event_document(event: JsonObject) -> JsonObject:
    """The event as AWS hands it to targets (moto keeps `time` as seconds since the epoch)."""
    document = {key: copy.deepcopy(event.get(key)) for key in _EVENT_KEYS}
    moment = event.get("time")
    if isinstance(moment, int | float):
        document["time"] = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document["version"] = document["version"] or "0"
    return document


def _select(path: str, document: JsonObject) -> Json:
    matches = jsonpath(path).find(document)
    return matches[0].value if matches else None


def render(target: JsonObject, event: JsonObject) -> str:
    """The message the target's input settings make of the event."""
    document = event_document(event)
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(_select(str(target["InputPath"]), document))
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(document)
    template = str(transformer.get("InputTemplate", ""))
    values = {**{name: _select(str(path), document)
                 for name, path in (transformer.get("InputPathsMap") or {}).items()},
              "aws.events.event.json": document,
              "aws.events.event.ingestion-time": document["time"]}
    is_json = template.lstrip().startswith(("{", "["))

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            return match[0]
        value = values[name]
        if not is_json:
            return "" if value is None else value if isinstance(value, str) else json.dumps(value)
        if _inside_quotes(template, match.start()):
            text = value if isinstance(value, str) else json.dumps(value)
            return json.dumps(text)[1:-1]  # escaped for the string it sits in
        return json.dumps(value)

    return PLACEHOLDER.sub(substitute, template)


def _inside_quotes(template: str, position: int) -> bool:
    """Whether `position` of a JSON template lies inside a string literal."""
    return len(re.findall(r'(?<!\\)"', template[:position])) % 2 == 1


_original_send_to_targets = Rule.send_to_targets


def send_to_targets(self: Rule, original_event: EventMessageType,
                    transform_input: bool = True) -> None:
    """moto's, with the SNS targets delivered here first."""
    if self.state == "DISABLED" or not self.event_pattern.matches_event(original_event):
        return
    others = [t for t in self.targets if ":sns:" not in str(t.get("Arn"))]
    for target in self.targets:
        if target in others:
            continue
        event: JsonObject = dict(original_event)
        message = (render(target, event) if transform_input
                   else json.dumps(event_document(event)))
        publisher = Publisher(SERVICE, self.account_id, self.arn)
        moto_monitoring_sns.publish_as_service(publisher, str(target["Arn"]), message, None)
    if others:
        rest = copy.copy(self)
        rest.targets = others
        _original_send_to_targets(rest, original_event, transform_input)
