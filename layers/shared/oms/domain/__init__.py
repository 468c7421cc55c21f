"""Pure domain code: models, the order state machine, cleaning rules, money and ids."""
