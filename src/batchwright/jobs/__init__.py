"""Ready-made jobs on top of the task API: batch-format JSONL files (split, submit), dataset files
(a prompt over CSV/JSONL rows) and :func:`complete_many` (many chat completions in one call)."""
