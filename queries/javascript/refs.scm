; What JavaScript code refers to: calls (plain and on a receiver), `new`,
; `require`, and the class a class extends. `import` statements are read
; from the syntax tree directly.

(call_expression function: (identifier) @call.name)
(call_expression
  function: (member_expression object: (_) @call.receiver property: (property_identifier) @call.method))
(new_expression constructor: (identifier) @call.name)
(new_expression
  constructor: (member_expression object: (_) @call.receiver property: (property_identifier) @call.method))
(class_heritage (identifier) @extends.name)
(class_heritage
  (member_expression object: (identifier) @type.path property: (property_identifier) @extends.name))
(call_expression function: (super) @call.super)
