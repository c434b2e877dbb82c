"""Experiment design: which (perturbation, context) pairs to measure next (`lpm-kg suggest`), the strategies that rank them and the retrospective benchmark that tests them."""
