; Decision points, for a function's cyclomatic complexity (1 plus the
; decision points inside it).

(if_statement) @decision
(elif_clause) @decision
(for_statement) @decision
(while_statement) @decision
(except_clause) @decision
(conditional_expression) @decision
(boolean_operator) @decision
(for_in_clause) @decision
(if_clause) @decision
(case_clause) @decision
