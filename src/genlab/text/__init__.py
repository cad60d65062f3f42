"""Text prompts for conditioned models: a frozen sentence encoder (genlab[text]) and the caption sets of datasets."""
