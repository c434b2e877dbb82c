"""Click commands that live beside the features they drive; ``lpm_kg.cli`` adds them to ``lpm-kg``."""
