"""Structured radiology reports from realised truth: the ground-truth report and its
narrative (:mod:`.report`), a parser from free text back to the structure
(:mod:`.parse`) and field-level scores (:mod:`.score`). See docs/vqa.md."""
