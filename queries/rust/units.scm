; Code units of a Rust file. The capture on the whole item names its kind;
; @name is the unit's name. Methods are functions inside an impl or trait
; (decided by nesting, not here).

(function_item name: (identifier) @name) @function
(function_signature_item name: (identifier) @name) @function
(struct_item name: (type_identifier) @name) @struct
(union_item name: (type_identifier) @name) @struct
(enum_item name: (type_identifier) @name) @enum
(trait_item name: (type_identifier) @name) @trait
(impl_item) @impl
(mod_item name: (identifier) @name) @module
(const_item name: (identifier) @name) @const
(static_item name: (identifier) @name) @static
(macro_definition name: (identifier) @name) @macro
(type_item name: (type_identifier) @name) @type
