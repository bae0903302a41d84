; Code units of a JavaScript file: functions, arrow functions and function
; expressions bound to names, classes, methods, and exported bindings.

(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(class_declaration name: (identifier) @name) @class
(method_definition name: [(property_identifier) (private_property_identifier)] @name) @method
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @function
(variable_declarator
  name: (identifier) @name
  value: (class)) @class
(export_statement
  declaration: (lexical_declaration
    (variable_declarator
      name: (identifier) @name
      value: (_) @value))) @binding

; CommonJS style: `Route.prototype.dispatch = function (…) {…}`,
; `exports.parse = (…) => …`, `app.init = function init() {…}`. The owner
; (`Route`, `app`) comes from the left side, without prototype/exports.
(assignment_expression
  left: (member_expression) @assigned
  right: [(function_expression) (arrow_function) (generator_function)]) @function
(assignment_expression
  left: (member_expression) @assigned
  right: (class)) @class

; `export default function () {…}`, `export default (…) => …`,
; `export default class {…}`: named after the module.
(export_statement
  value: [(function_expression) (arrow_function) (generator_function)] @function)
(export_statement value: (class) @class)
