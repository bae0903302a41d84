; What TypeScript code refers to: JavaScript's calls, `new` and `extends`,
; plus the types it names (annotations, `implements`, generic arguments).

(call_expression function: (identifier) @call.name)
(call_expression
  function: (member_expression object: (_) @call.receiver property: (property_identifier) @call.method))
(new_expression constructor: (identifier) @call.name)
(new_expression
  constructor: (member_expression object: (_) @call.receiver property: (property_identifier) @call.method))
(extends_clause value: (identifier) @extends.name)
(extends_clause
  value: (member_expression object: (identifier) @type.path property: (property_identifier) @extends.name))
(implements_clause (type_identifier) @extends.name)
(implements_clause (generic_type name: (type_identifier) @extends.name))
(extends_type_clause type: (type_identifier) @extends.name)
(extends_type_clause type: (generic_type name: (type_identifier) @extends.name))
(type_identifier) @type.name
(call_expression function: (super) @call.super)
