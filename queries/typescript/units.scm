; Code units of a TypeScript (or TSX) file: JavaScript's, plus interfaces,
; type aliases, enums, namespaces, abstract classes and the method
; signatures of interfaces and abstract classes.

(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(class_declaration name: (type_identifier) @name) @class
(abstract_class_declaration name: (type_identifier) @name) @class
(method_definition name: [(property_identifier) (private_property_identifier)] @name) @method
(method_signature name: [(property_identifier) (private_property_identifier)] @name) @method
(abstract_method_signature name: [(property_identifier) (private_property_identifier)] @name) @method
(interface_declaration name: (type_identifier) @name) @interface
(type_alias_declaration name: (type_identifier) @name) @type
(enum_declaration name: (identifier) @name) @enum
(internal_module name: (identifier) @name) @module
(module name: (identifier) @name) @module
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

; CommonJS style, as in JavaScript.
(assignment_expression
  left: (member_expression) @assigned
  right: [(function_expression) (arrow_function) (generator_function)]) @function
(assignment_expression
  left: (member_expression) @assigned
  right: (class)) @class

; `export default function () {…}`, `export default class {…}`: named
; after the module.
(export_statement
  value: [(function_expression) (arrow_function) (generator_function)] @function)
(export_statement value: (class) @class)
