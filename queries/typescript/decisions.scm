; Decision points, for a function's cyclomatic complexity (1 plus the
; decision points inside it).

(if_statement) @decision
(for_statement) @decision
(for_in_statement) @decision
(while_statement) @decision
(do_statement) @decision
(catch_clause) @decision
(ternary_expression) @decision
(switch_case) @decision
(binary_expression operator: "&&") @decision
(binary_expression operator: "||") @decision
(binary_expression operator: "??") @decision
