; What Rust code refers to: calls (plain, by path, and method calls), macro
; invocations, and types named. Imports (`use`, `mod`) are read from the
; syntax tree directly: their nesting is easier to follow in code.

(call_expression function: (identifier) @call.name)
(call_expression
  function: (scoped_identifier path: (_) @call.path name: (identifier) @call.name))
(call_expression
  function: (field_expression value: (_) @call.receiver field: (field_identifier) @call.method))
(call_expression
  function: (generic_function function: (identifier) @call.name))
(call_expression
  function: (generic_function
    function: (scoped_identifier path: (_) @call.path name: (identifier) @call.name)))
(call_expression
  function: (generic_function
    function: (field_expression value: (_) @call.receiver field: (field_identifier) @call.method)))
(macro_invocation macro: (identifier) @macro.name)
(type_identifier) @type.name
(scoped_type_identifier path: (_) @type.path name: (type_identifier) @type.name)
