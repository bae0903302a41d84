; Code units of a Python file: functions (methods inside classes) and
; classes. A decorated one spans its decorators (see `python.rs`).

(function_definition name: (identifier) @name) @function
(class_definition name: (identifier) @name) @class
