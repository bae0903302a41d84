; Decision points, for a function's cyclomatic complexity (1 plus the
; decision points inside it).

(if_expression) @decision
(while_expression) @decision
(for_expression) @decision
(match_arm) @decision
(binary_expression operator: "&&") @decision
(binary_expression operator: "||") @decision
