"""Use cases: each opens its own short transactions, seals/opens secrets, talks to providers, audits."""
