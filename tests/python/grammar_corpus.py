"""The structured-output test corpus: JSON Schemas, regexes, choices, and schemas the grammar
engine refuses.

`schemas()` returns over 100 (name, schema) pairs: the base schemas below as written, and (for
those without $defs of their own) each one nested as an object member and as the items of a
bounded array through $defs/$ref. Every sample at temperature 1 must end within the token
limit on any CPU (the tokens drawn differ with each machine's kernel numerics), so nothing here
is unbounded where SmolLM2 is known to ramble: free strings carry a maxLength, and free JSON and
maps (whose keys no keyword bounds) are left to their own tests; measured here, 10-17% of free-JSON
samples at temperature 1 run past 800 tokens.
"""

S = {"type": "string", "maxLength": 24}

BASE = [
    ("integer", {"type": "integer"}),
    ("bounded integer", {"type": "integer", "minimum": -5, "maximum": 300}),
    ("exclusive integer", {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 1000}),
    ("number", {"type": "number"}),
    ("bounded number", {"type": "number", "minimum": 0.5, "maximum": 99.5}),
    ("negative number", {"type": "number", "maximum": -1}),
    ("boolean", {"type": "boolean"}),
    ("null", {"type": "null"}),
    ("short string", {"type": "string", "maxLength": 10}),
    ("sized string", {"type": "string", "minLength": 3, "maxLength": 8}),
    ("date", {"type": "string", "format": "date"}),
    ("date-time", {"type": "string", "format": "date-time"}),
    ("time", {"type": "string", "format": "time"}),
    ("uuid", {"type": "string", "format": "uuid"}),
    ("email", {"type": "string", "format": "email"}),
    ("ipv4", {"type": "string", "format": "ipv4"}),
    ("zip pattern", {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"}),
    ("code pattern", {"type": "string", "pattern": "^[A-Z]{3}-\\d{2}$"}),
    ("enum strings", {"enum": ["small", "medium", "large"]}),
    ("enum mixed", {"enum": [1, "two", None, True, 3.5]}),
    ("const", {"const": {"kind": "fixed", "n": [1, 2]}}),
    ("type list", {"type": ["integer", "null"]}),
    ("anyOf", {"anyOf": [{"type": "boolean"}, S]}),
    ("oneOf disjoint", {"oneOf": [{"type": "integer", "maximum": 0},
                                  {"type": "string", "maxLength": 5}]}),
    ("point", {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
               "required": ["x", "y"], "additionalProperties": False}),
    ("person", {"type": "object", "properties": {
        "name": S, "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "email": {"type": "string", "format": "email"}}, "required": ["name", "age"]}),
    ("all optional", {"type": "object", "properties": {"a": S, "b": {"type": "boolean"},
                                                         "c": {"type": "integer"}}}),
    ("empty object", {"type": "object", "additionalProperties": False}),
    ("list of names", {"type": "array", "items": S, "maxItems": 4}),
    ("exact list", {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                    "maxItems": 2}),
    ("tuple", {"type": "array", "prefixItems": [S, {"type": "integer"}, {"type": "boolean"}],
               "items": False}),
    ("matrix", {"type": "array", "items": {"type": "array", "items": {"type": "number"},
                                           "maxItems": 3}, "maxItems": 3}),
    ("order", {"type": "object", "properties": {
        "id": {"type": "integer", "minimum": 1},
        "lines": {"type": "array", "maxItems": 3, "items": {
            "type": "object", "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{2}\\d{3}$"},
                                             "qty": {"type": "integer", "minimum": 1, "maximum": 9}},
            "required": ["sku", "qty"], "additionalProperties": False}},
        "paid": {"type": "boolean"}}, "required": ["id", "lines", "paid"]}),
    ("nullable nested", {"type": "object", "properties": {
        "owner": {"anyOf": [{"type": "object", "properties": {"name": S}, "required": ["name"]},
                            {"type": "null"}]},
        "level": {"enum": ["low", "high"]}}, "required": ["owner", "level"]}),
    ("event", {"type": "object", "properties": {
        "title": S, "when": {"type": "string", "format": "date"},
        "attendees": {"type": "array", "items": {"type": "string", "format": "email"},
                      "maxItems": 3}}, "required": ["title", "when", "attendees"]}),
    ("annotated", {"title": "Thing", "description": "A described thing", "type": "object",
                   "properties": {"v": {"type": "integer", "description": "the value",
                                        "default": 3}}, "required": ["v"]}),
]

# Schemas with $defs of their own, used as written only.
WITH_DEFS = [
    ("recursive tree", {"$defs": {"node": {"type": "object", "properties": {
        "label": {"type": "string", "maxLength": 12},
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 1}},
        "required": ["label"]}}, "$ref": "#/$defs/node"}),
    ("refs to enums", {"$defs": {"colour": {"enum": ["red", "green"]},
                                 "size": {"type": "integer", "minimum": 1, "maximum": 3}},
                       "type": "object", "properties": {"c": {"$ref": "#/$defs/colour"},
                                                        "s": {"$ref": "#/$defs/size"}},
                       "required": ["c", "s"]}),
    ("definitions keyword", {"definitions": {"p": {"type": "object", "properties": {
        "x": {"type": "integer"}}, "required": ["x"]}},
        "type": "array", "items": {"$ref": "#/definitions/p"}, "maxItems": 2}),
    ("allOf one", {"$defs": {"base": {"type": "object", "properties": {"k": S},
                                      "required": ["k"]}},
                   "allOf": [{"$ref": "#/$defs/base"}]}),
]


def schemas():
    out = []
    for name, base in BASE:
        out.append((name, base))
        out.append((f"{name} as a member", {
            "type": "object", "properties": {"value": base, "note": S},
            "required": ["value"], "additionalProperties": False}))
        out.append((f"{name} in an array", {
            "$defs": {"T": base}, "type": "array", "items": {"$ref": "#/$defs/T"},
            "minItems": 1, "maxItems": 2}))
    out.extend(WITH_DEFS)
    return out


REGEXES = [
    r"[0-9]{3}-[0-9]{4}",
    r"(yes|no|maybe)",
    r"[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8})?",
    r"\d{1,3}(\.\d{1,3}){3}",
    r"#[0-9a-fA-F]{6}",
    r"(true|false)",
    r"[a-z]{1,12}@[a-z]{1,12}\.(com|org|net)",
    r"-?\d{1,6}(\.\d{1,4})?",
    r"\(\d{3}\) \d{3}-\d{4}",
    r"[^\n]{1,20}",
    r"(ab|cd){1,6}e?",
    r"[α-ω]{2,5}",
    r"\w{4}",
    r"[01]{8}",
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)day?",
    r"\s?[A-Z]{2}",
    r"[+-]?[1-9][0-9]{0,2}",
    r"(?:https?://)?[a-z]{3,10}\.com",
    r"[a-c]{1,3}[x-z]{1,3}",
    r"\$\d{1,6}\.\d{2}",
]

CHOICES = [
    ["yes", "no"],
    ["red", "green", "blue"],
    ["positive", "negative", "neutral"],
    ["Paris", "London", "Rome", "Berlin"],
    ["A", "B", "C", "D"],
    ["1", "2", "3"],
    ["cat", "caterpillar", "catalog"],
    ["true", "false"],
    ["north", "south", "east", "west"],
    ["😀", "😢"],
]

# Schemas beyond the supported subset, and the keyword the 400 must name.
UNSUPPORTED = [
    ({"type": "object", "properties": {"a": {"not": {"type": "null"}}}}, "not"),
    ({"type": "integer", "multipleOf": 5}, "multipleOf"),
    ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "uniqueItems"),
    ({"type": "object", "patternProperties": {"^x": {"type": "integer"}}}, "patternProperties"),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "minProperties": 1},
     "minProperties"),
    ({"if": {"type": "string"}, "then": {"maxLength": 3}}, "if"),
    ({"type": "array", "contains": {"type": "integer"}}, "contains"),
    ({"type": "string", "format": "ipv6"}, "ipv6"),
    ({"allOf": [{"type": "object"}, {"required": ["a"]}]}, "allOf"),
    ({"type": "object", "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
    ({"type": "object", "propertyNames": {"maxLength": 3}}, "propertyNames"),
    ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
    ({"$ref": "https://example.com/schema.json"}, "$ref"),
    ({"type": "string", "pattern": "(\\w)\\1"}, "backreference"),
]
