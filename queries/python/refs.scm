; What Python code refers to: calls (plain and on a receiver), decorators,
; and the classes a class derives from. Imports are read from the syntax
; tree in `src/graph/python.rs`.

(call function: (identifier) @call.name)
(call
  function: (attribute object: (_) @call.receiver attribute: (identifier) @call.method))
(decorator (identifier) @call.name)
(decorator (call function: (identifier) @call.name))
(class_definition superclasses: (argument_list (identifier) @extends.name))
(class_definition
  superclasses: (argument_list
    (attribute object: (identifier) @type.path attribute: (identifier) @extends.name)))
