"""Mechanisms both provider simulators share: clock, rate window, request ledger, faults, server runner."""
