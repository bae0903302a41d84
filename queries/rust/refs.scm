; What Rust code refers to: calls (plain, by path, and method calls), macro
; invocations, and types named; where its imports (`use`, `mod`) and macro
; arguments are, which the code then reads (their nesting is easier to follow
; in code). One query, so that the tree is walked once for all of these.

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
(macro_invocation (token_tree) @macro.args)
(use_declaration argument: (_) @use.tree) @use.decl
(mod_item name: (identifier) @mod.name !body) @mod.decl
