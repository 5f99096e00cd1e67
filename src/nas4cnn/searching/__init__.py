"""The search: evaluation records, evaluator, executors, the run store and the loop."""
